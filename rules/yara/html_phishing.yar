// HTML and SVG attachments: smuggling and credential phishing kits.

rule HTML_Smuggling_Blob_Download
{
    meta:
        description = "HTML that builds a Blob and saves or links it as a download"
        severity = "suspicious"
    strings:
        $blob = /new\s+Blob\s*\(/ nocase
        $save1 = "msSaveOrOpenBlob" nocase
        $save2 = "msSaveBlob" nocase
        $save3 = "createObjectURL" nocase
        $dl = /\.download\s*=|download\s*=\s*["']/ nocase
    condition:
        $blob and any of ($save*) and ($dl or $save1 or $save2)
}

rule HTML_Smuggling_Base64_Executable
{
    meta:
        description = "HTML that decodes a base64 Windows program in the browser"
        severity = "malicious"
    strings:
        $atob = "atob(" nocase
        $mz1 = "TVqQAAMAAAAEAAAA"
        $mz2 = "TVpQAAIAAAAEAA8A"
        $zip = "UEsDBBQA"
    condition:
        $atob and any of ($mz*, $zip) and (filesize < 30MB)
}

rule Phishing_Telegram_Exfiltration
{
    meta:
        description = "Web page that posts what it collects to a Telegram bot"
        severity = "malicious"
    strings:
        $api = "api.telegram.org/bot" nocase
        $send = "sendMessage" nocase
        $pw = "password" nocase
    condition:
        $api and $send and $pw
}

rule Phishing_Discord_Webhook_Exfiltration
{
    meta:
        description = "Web page that posts collected data to a Discord webhook"
        severity = "suspicious"
    strings:
        $hook = /discord(app)?\.com\/api\/webhooks\// nocase
        $pw = "password" nocase
    condition:
        $hook and $pw
}

rule Phishing_Kit_Credential_Post
{
    meta:
        description = "Login form posting a password to a PHP script (phishing kit layout)"
        severity = "suspicious"
    strings:
        $form = /<form[^>]{0,300}action\s*=\s*["'][^"']{0,300}\.php/ nocase
        $pw = /<input[^>]{0,200}type\s*=\s*["']?password/ nocase
    condition:
        $form and $pw
}

rule Phishing_Kit_Brand_Login
{
    meta:
        description = "Page imitating a Microsoft, Outlook, Adobe or DocuSign login that asks for a password"
        severity = "suspicious"
    strings:
        $b1 = "Office 365" nocase
        $b2 = "Outlook Web" nocase
        $b3 = "Microsoft account" nocase
        $b4 = "Adobe Document Cloud" nocase
        $b5 = "DocuSign" nocase
        $b6 = "OneDrive" nocase
        $pw = /type\s*=\s*["']?password/ nocase
        $mail = /type\s*=\s*["']?email|name\s*=\s*["']?(email|login|username)/ nocase
    condition:
        any of ($b*) and $pw and $mail
}

rule Phishing_Kit_Obfuscated_Page
{
    meta:
        description = "Page whose body is written by unescape() or atob() of a long string"
        severity = "suspicious"
    strings:
        $w1 = /document\.write\s*\(\s*(unescape|atob|decodeURIComponent)\s*\(\s*["'][A-Za-z0-9+\/=%]{400,}/ nocase
    condition:
        $w1
}

rule SVG_With_Script_Redirect
{
    meta:
        description = "SVG image carrying script that redirects or decodes content"
        severity = "suspicious"
    strings:
        $svg = "<svg" nocase
        $script = "<script" nocase
        $r1 = "window.location" nocase
        $r2 = "atob(" nocase
        $r3 = "eval(" nocase
        $r4 = "location.href" nocase
    condition:
        $svg in (0..2048) and $script and any of ($r*)
}

rule HTA_Application_Tag
{
    meta:
        description = "HTML Application (runs with full user rights outside the browser sandbox)"
        severity = "suspicious"
    strings:
        $hta = "<HTA:APPLICATION" nocase
    condition:
        $hta
}
