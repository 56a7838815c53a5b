// Script droppers and living-off-the-land command lines.

rule PowerShell_Encoded_Command
{
    meta:
        description = "PowerShell started with a long base64 -EncodedCommand argument"
        severity = "malicious"
    strings:
        $enc = /powershell(\.exe)?["']?\s[^\r\n]{0,120}\s-(e|ec|en|enc|enco|encodedcommand)\s+["']?[A-Za-z0-9+\/=]{40,}/ nocase
    condition:
        $enc
}

rule PowerShell_Download_Cradle
{
    meta:
        description = "PowerShell that downloads code and runs it in memory"
        severity = "malicious"
    strings:
        $wc = "Net.WebClient" nocase
        $dls = "DownloadString" nocase
        $dld = "DownloadData" nocase
        $iwr = "Invoke-WebRequest" nocase
        $iex1 = "IEX" nocase fullword
        $iex2 = "Invoke-Expression" nocase
    condition:
        ($wc or $iwr) and ($dls or $dld or $iwr) and ($iex1 or $iex2)
}

rule PowerShell_UTF16_Base64_Fragments
{
    meta:
        description = "Base64 of UTF-16 PowerShell keywords (how -EncodedCommand payloads look)"
        severity = "suspicious"
    strings:
        $iex = "SQBFAFgA"
        $invoke = "SQBuAHYAbwBrAGUALQBFAHgAcAByAGUAcwBzAGkAbwBuA"
        $webclient = "TgBlAHQALgBXAGUAYgBDAGwAaQBlAG4AdA"
        $download = "RABvAHcAbgBsAG8AYQBkAFMAdAByAGkAbgBnA"
    condition:
        any of them
}

rule JS_WScript_Dropper
{
    meta:
        description = "JScript that creates a WScript.Shell and runs a command"
        severity = "malicious"
    strings:
        $ax = /new\s+ActiveXObject\s*\(\s*["']WScript\.Shell["']\s*\)/ nocase
        $run = /\.(Run|Exec)\s*\(/ nocase
    condition:
        $ax and $run
}

rule JS_Download_And_Save
{
    meta:
        description = "JScript or VBScript that downloads over HTTP and saves with ADODB.Stream"
        severity = "malicious"
    strings:
        $http1 = "MSXML2.XMLHTTP" nocase
        $http2 = "WinHttp.WinHttpRequest" nocase
        $http3 = "MSXML2.ServerXMLHTTP" nocase
        $stream = "ADODB.Stream" nocase
        $save = "SaveToFile" nocase
    condition:
        any of ($http*) and $stream and $save
}

rule JS_Obfuscated_Eval
{
    meta:
        description = "Script that builds code from character codes and evaluates it"
        severity = "suspicious"
    strings:
        $fcc = "String.fromCharCode" nocase
        $eval = /\beval\s*\(/
        $func = /new\s+Function\s*\(/
    condition:
        $fcc and ($eval or $func) and #fcc > 3
}

rule VBS_Shell_Execution
{
    meta:
        description = "VBScript that starts programs through WScript.Shell or Shell.Application"
        severity = "suspicious"
    strings:
        $ws = /CreateObject\s*\(\s*"(WScript\.Shell|Shell\.Application)"\s*\)/ nocase
        $run = /\.(Run|Exec|ShellExecute)\b/ nocase
    condition:
        $ws and $run
}

rule Mshta_Remote_Script
{
    meta:
        description = "mshta pointed at a remote address or inline script"
        severity = "suspicious"
    strings:
        $remote = /mshta(\.exe)?["']?\s+["']?(https?:|vbscript:|javascript:)/ nocase
    condition:
        $remote
}

rule Certutil_Download_Or_Decode
{
    meta:
        description = "certutil used to download or decode a payload"
        severity = "suspicious"
    strings:
        $cu = /certutil(\.exe)?\s[^\r\n]{0,80}-(urlcache|decode|decodehex)\b/ nocase
    condition:
        $cu
}

rule Bitsadmin_Transfer
{
    meta:
        description = "bitsadmin used to fetch a file"
        severity = "suspicious"
    strings:
        $bits = /bitsadmin(\.exe)?\s[^\r\n]{0,40}\/transfer\b/ nocase
    condition:
        $bits
}

rule Regsvr32_Remote_Scriptlet
{
    meta:
        description = "regsvr32 loading a remote scriptlet through scrobj.dll (Squiblydoo)"
        severity = "malicious"
    strings:
        $r = /regsvr32(\.exe)?\s[^\r\n]{0,60}\/i:\s*https?:/ nocase
        $s = "scrobj.dll" nocase
    condition:
        $r and $s
}

rule Rundll32_Javascript
{
    meta:
        description = "rundll32 abused to run inline JavaScript"
        severity = "malicious"
    strings:
        $r = /rundll32(\.exe)?\s+javascript:/ nocase
    condition:
        $r
}

rule MSDT_Follina_Payload
{
    meta:
        description = "ms-msdt URL with IT_BrowseForFile, the Follina (CVE-2022-30190) payload"
        severity = "malicious"
    strings:
        $scheme = "ms-msdt:" nocase
        $param = "IT_BrowseForFile" nocase
    condition:
        $scheme and $param
}
