# Mist Infrastructure Manager in the Windows Task Scheduler, from PowerShell (5.1 or 7).
#
#   powershell -ExecutionPolicy Bypass -File deploy\windows-schtasks.ps1 -InstallDir C:\mist-infra-manager
#       a one-shot run every 15 minutes (recommended on Windows)
#   powershell -ExecutionPolicy Bypass -File deploy\windows-schtasks.ps1 -InstallDir C:\mist-infra-manager -Daemon
#       instead: --daemon at every start of the machine
#
# Both run as the current user whether or not that user is logged on: Windows asks for the password once.
# Keep the token and SMTP password in config\config.yaml (readable by that user only): a task started without
# a logon does not always see the user's environment variables.
# Install into a folder without spaces: schtasks /TR is limited to 261 characters and its quoting is fragile.
# Check:  schtasks /Query /TN "Mist Infrastructure Manager" /V /FO LIST     Remove:  schtasks /Delete /TN "..." /F

param(
    [string]$InstallDir = 'C:\mist-infra-manager',
    [switch]$Daemon
)
$ErrorActionPreference = 'Stop'
$Python = Join-Path $InstallDir '.venv\Scripts\python.exe'
$Main = Join-Path $InstallDir 'src\main.py'
foreach ($path in $Python, $Main) {
    if (-not (Test-Path $path)) { throw "Not found: $path (create the venv first, see the README)" }
}
if ($InstallDir -match '\s') { throw "Install into a folder without spaces: $InstallDir" }

if (-not $Daemon) {
    # --% passes the rest of the line to schtasks.exe as written (no PowerShell quoting rules); %MIM_HOME% is
    # expanded from the environment. /RP * asks for the password. Task Scheduler starts no second instance
    # while one runs, and the tool's lock refuses one anyway (exit 3).
    $env:MIM_HOME = $InstallDir
    schtasks.exe --% /Create /F /TN "Mist Infrastructure Manager" /SC MINUTE /MO 15 /RU "%USERDOMAIN%\%USERNAME%" /RP * /TR "%MIM_HOME%\.venv\Scripts\python.exe %MIM_HOME%\src\main.py --mode report --quiet"
    if ($LASTEXITCODE -ne 0) { throw "schtasks failed with exit code $LASTEXITCODE" }
    return
}

# The daemon: schtasks /Create cannot lift Task Scheduler's default limit ("stop the task if it runs longer than
# 3 days"), so this task is registered with the ScheduledTasks module instead. Stopping it (schtasks /End, or
# the Task Scheduler's End) terminates the process: no file is ever half-written (each is renamed into place)
# and the lock goes with the process.
$credential = Get-Credential -UserName "$env:USERDOMAIN\$env:USERNAME" -Message 'Account that runs the daemon'
$action = New-ScheduledTaskAction -Execute $Python -Argument "$Main --daemon --mode report --quiet" -WorkingDirectory $InstallDir
$trigger = New-ScheduledTaskTrigger -AtStartup
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -MultipleInstances IgnoreNew `
    -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) -StartWhenAvailable
Register-ScheduledTask -Force -TaskName 'Mist Infrastructure Manager daemon' -Action $action -Trigger $trigger `
    -Settings $settings -User $credential.UserName -Password $credential.GetNetworkCredential().Password | Out-Null
Start-ScheduledTask -TaskName 'Mist Infrastructure Manager daemon'
