// Programs hidden where a program has no business being.

rule PE_Embedded_In_Document
{
    meta:
        description = "A Windows program (DOS stub) buried inside an OLE, PDF or RTF document"
        severity = "malicious"
    strings:
        $stub = "This program cannot be run in DOS mode"
    condition:
        (uint32(0) == 0xE011CFD0 or uint32(0) == 0x46445025 or uint32(0) == 0x74725C7B)
        and $stub in (512..filesize)
}

rule PE_Hex_Encoded_In_Document
{
    meta:
        description = "A Windows program written as hex text (MZ header and DOS stub) inside a document"
        severity = "malicious"
    strings:
        $mz = "4d5a90000300000004000000ffff" nocase
        $stub = "546869732070726f6772616d2063616e6e6f74" nocase
    condition:
        uint16(0) != 0x5A4D and ($mz or $stub)
}

rule PE_Base64_Embedded
{
    meta:
        description = "Base64 of a Windows program header inside a non-executable file"
        severity = "suspicious"
    strings:
        $h1 = "TVqQAAMAAAAEAAAA"
        $h2 = "TVpQAAIAAAAEAA8A"
        $h3 = "TVoAAAAAAAAAAAAA"
        $stub = "VGhpcyBwcm9ncmFtIGNhbm5vdCBiZSBydW4gaW4gRE9TIG1vZGU"
    condition:
        uint16(0) != 0x5A4D and any of them
}

rule PE_Reversed_Stub
{
    meta:
        description = "A Windows program stored backwards to dodge signature checks"
        severity = "suspicious"
    strings:
        $rev = "edom SOD ni nur eb tonnac margorp sihT"
    condition:
        $rev
}

rule AutoIt_Compiled_Script
{
    meta:
        description = "Compiled AutoIt script marker, a frequent malware loader"
        severity = "suspicious"
    strings:
        $au3 = "AU3!EA06"
    condition:
        $au3
}

rule ISO_Carrier_With_Executable
{
    meta:
        description = "ISO 9660 image whose directory lists a program, script or shortcut"
        severity = "malicious"
    strings:
        $exe = /[A-Z0-9_\-]{1,64}\.(EXE|SCR|DLL|LNK|JS|VBS|BAT|CMD|HTA|PS1|MSI|WSF);1/ nocase
    condition:
        uint32(0x8001) == 0x30304443 and $exe
}

rule OneNote_Embedded_Executable_Or_Script
{
    meta:
        description = "OneNote section that embeds a file whose name is a program or script"
        severity = "malicious"
    strings:
        $store = { E7 16 E3 BD 65 26 11 45 A4 C4 8D 4D 0B 7A 9E AC }
        $ext = /\.\x00(h\x00t\x00a|b\x00a\x00t|c\x00m\x00d|v\x00b\x00s|j\x00s|e\x00x\x00e|w\x00s\x00f|p\x00s\x001|l\x00n\x00k|c\x00h\x00m)\x00/ nocase
    condition:
        uint32(0) == 0x7B5C52E4 and $store and $ext
}

rule LNK_Command_Line
{
    meta:
        description = "Windows shortcut whose target runs a shell, script host or LOLBin"
        severity = "malicious"
    strings:
        $cmd = "cmd.exe" wide nocase
        $ps = "powershell" wide nocase
        $mshta = "mshta" wide nocase
        $wscript = "wscript" wide nocase
        $cscript = "cscript" wide nocase
        $rundll = "rundll32" wide nocase
        $regsvr = "regsvr32" wide nocase
        $certutil = "certutil" wide nocase
    condition:
        uint32(0) == 0x0000004C and uint32(4) == 0x00021401 and any of them
}
