# Mist Infrastructure Manager in the Windows Task Scheduler, from PowerShell (5.1 or 7).
#
# First install the command into a venv and write the config (docs/operations.md, "Windows"):
#   py -m venv C:\mist-infra-manager\venv
#   C:\mist-infra-manager\venv\Scripts\pip install --require-hashes -r requirements.lock
#   C:\mist-infra-manager\venv\Scripts\pip install --no-deps .
#   C:\mist-infra-manager\venv\Scripts\mist-infra-manager config init $env:ProgramData\mist-infra-manager\config.yaml
# Then:
#   powershell -ExecutionPolicy Bypass -File deploy\windows-schtasks.ps1
#       a one-shot run every 15 minutes (recommended on Windows)
#   powershell -ExecutionPolicy Bypass -File deploy\windows-schtasks.ps1 -Daemon
#       instead: --daemon at every start of the machine
#   -InstallDir C:\mist-infra-manager   the folder holding venv\ (default)
#   -Config C:\ProgramData\mist-infra-manager\config.yaml   the config file (default: $env:ProgramData\mist-infra-manager\config.yaml)
#
# Both run as the current user whether or not that user is logged on: Windows asks for the password once.
# Keep the token and SMTP password in the config (readable by that user only): a task started without
# a logon does not always see the user's environment variables. Without reports.directory in the config, the
# reports, state and log go to that user's %LOCALAPPDATA%\mist-infra-manager\.
# Use folders without spaces (hence not %ProgramFiles%): schtasks /TR is limited to 261 characters and its
# quoting is fragile.
# Check:  schtasks /Query /TN "Mist Infrastructure Manager" /V /FO LIST     Remove:  schtasks /Delete /TN "..." /F

param(
    [string]$InstallDir = 'C:\mist-infra-manager',
    [string]$Config = (Join-Path $env:ProgramData 'mist-infra-manager\config.yaml'),
    [switch]$Daemon
)
$ErrorActionPreference = 'Stop'
$Command = Join-Path $InstallDir 'venv\Scripts\mist-infra-manager.exe'
if (-not (Test-Path $Command)) { throw "Not found: $Command (install the command first, see docs/operations.md)" }
if (-not (Test-Path $Config)) { throw "Not found: $Config (mist-infra-manager config init `"$Config`")" }
foreach ($path in $InstallDir, $Config) {
    if ($path -match '\s') { throw "Use a path without spaces: $path" }
}

if (-not $Daemon) {
    # --% passes the rest of the line to schtasks.exe as written (no PowerShell quoting rules); %MIM_HOME% and
    # %MIM_CONFIG% are expanded from the environment. /RP * asks for the password. Task Scheduler starts no
    # second instance while one runs, and the tool's lock refuses one anyway (exit 3).
    $env:MIM_HOME = $InstallDir
    $env:MIM_CONFIG = $Config
    schtasks.exe --% /Create /F /TN "Mist Infrastructure Manager" /SC MINUTE /MO 15 /RU "%USERDOMAIN%\%USERNAME%" /RP * /TR "%MIM_HOME%\venv\Scripts\mist-infra-manager.exe --config %MIM_CONFIG% --mode report --quiet"
    if ($LASTEXITCODE -ne 0) { throw "schtasks failed with exit code $LASTEXITCODE" }
    return
}

# The daemon: schtasks /Create cannot lift Task Scheduler's default limit ("stop the task if it runs longer than
# 3 days"), so this task is registered with the ScheduledTasks module instead. Stopping it (schtasks /End, or
# the Task Scheduler's End) terminates the process: no file is ever half-written (each is renamed into place)
# and the lock goes with the process.
$credential = Get-Credential -UserName "$env:USERDOMAIN\$env:USERNAME" -Message 'Account that runs the daemon'
$action = New-ScheduledTaskAction -Execute $Command -Argument "--config $Config --daemon --mode report --quiet" -WorkingDirectory $InstallDir
$trigger = New-ScheduledTaskTrigger -AtStartup
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -MultipleInstances IgnoreNew `
    -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) -StartWhenAvailable
Register-ScheduledTask -Force -TaskName 'Mist Infrastructure Manager daemon' -Action $action -Trigger $trigger `
    -Settings $settings -User $credential.UserName -Password $credential.GetNetworkCredential().Password | Out-Null
Start-ScheduledTask -TaskName 'Mist Infrastructure Manager daemon'
