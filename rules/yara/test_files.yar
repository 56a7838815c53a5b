// Test files that every scanner must recognise, in plain and encoded forms.

rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-virus test file (treated as malware so the whole chain can be tested)"
        severity = "malicious"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar in (0..1024)
}

rule EICAR_Base64_Text
{
    meta:
        description = "Base64 text of the EICAR test file left undecoded inside another file"
        severity = "suspicious"
    strings:
        $b64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJE"
    condition:
        $b64
}
