// Office, RTF and PDF documents built to run code.
// The attachments stage also feeds decompressed VBA source to these rules.

rule VBA_Downloader
{
    meta:
        description = "VBA that downloads a file and runs or saves it"
        severity = "malicious"
    strings:
        $dl1 = "URLDownloadToFile" nocase
        $dl2 = "MSXML2.XMLHTTP" nocase
        $dl3 = "WinHttp.WinHttpRequest" nocase
        $dl4 = "Microsoft.XMLHTTP" nocase
        $run1 = /\bShell\s*\(/ nocase
        $run2 = "WScript.Shell" nocase
        $run3 = "ShellExecute" nocase
        $save = "SaveToFile" nocase
    condition:
        any of ($dl*) and (any of ($run*) or $save)
}

rule VBA_AutoOpen_Shell
{
    meta:
        description = "VBA that runs a shell command as soon as the document opens"
        severity = "malicious"
    strings:
        $a1 = "AutoOpen" nocase
        $a2 = "Document_Open" nocase
        $a3 = "Workbook_Open" nocase
        $a4 = "Auto_Open" nocase
        $shell1 = /\bShell\s*\(/ nocase
        $shell2 = "WScript.Shell" nocase
        $shell3 = "powershell" nocase
    condition:
        any of ($a*) and any of ($shell*)
}

rule VBA_Chr_Obfuscation
{
    meta:
        description = "VBA that assembles strings from many Chr() calls"
        severity = "suspicious"
    strings:
        $chr = /Chr[WB]?\s*\(\s*\d{2,3}\s*\)\s*&/ nocase
    condition:
        #chr > 20
}

rule XLM_Macro_Formulas
{
    meta:
        description = "Excel 4.0 macro formulas that run or register code"
        severity = "suspicious"
    strings:
        $exec = "EXEC(" nocase
        $call = "CALL(" nocase
        $register = "REGISTER(" nocase
        $halt = "HALT()" nocase
        $formula = "FORMULA(" nocase
    condition:
        2 of them
}

rule RTF_Equation_Editor_Exploit
{
    meta:
        description = "RTF embedding an Equation Editor object (CVE-2017-11882 / CVE-2018-0802 carrier)"
        severity = "malicious"
    strings:
        $class_text = "Equation.3" nocase
        $class_hex = "4571756174696f6e2e33" nocase
        $objclass = /\\objclass\s*Equation/ nocase
    condition:
        uint32(0) == 0x74725C7B and any of them
}

rule RTF_Auto_Update_Object
{
    meta:
        description = "RTF with an embedded object set to update itself on open"
        severity = "suspicious"
    strings:
        $obj = "\\object" nocase
        $upd = "\\objupdate" nocase
    condition:
        uint32(0) == 0x74725C7B and $obj and $upd
}

rule PDF_Launch_Command
{
    meta:
        description = "PDF Launch action naming cmd.exe, PowerShell or a script host"
        severity = "malicious"
    strings:
        $launch = "/Launch" nocase
        $c1 = "cmd.exe" nocase
        $c2 = "powershell" nocase
        $c3 = "mshta" nocase
        $c4 = "wscript" nocase
    condition:
        uint32(0) == 0x46445025 and $launch and any of ($c*)
}
