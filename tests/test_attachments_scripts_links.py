"""Unix scripts and web bookmarks are scored; Windows scripts and file-share shortcuts banned."""
from __future__ import annotations

from mailsphere_cli.verdict import Action
from tests.test_attachments_builders import eml, findings_by_path, scan


def test_shell_script_attachment_is_scored_not_malicious():
    ctx = scan(eml([("rotate-logs.sh", b"#!/bin/sh\nfind /var/log -name '*.gz' -mtime +30 -delete\n",
                     "application/x-sh")]))
    assert findings_by_path(ctx) == {"rotate-logs.sh": ["ATTACH_UNIX_SCRIPT"]}
    assert ctx.forced == []


def test_windows_script_is_still_banned():
    vbs = (b'Set sh = CreateObject("WScript.Shell")\r\nsh.Run "cmd /c calc.exe"\r\n'
           b'Dim x\r\nWScript.Sleep 100\r\n')
    ctx = scan(eml([("readme.txt", vbs, "text/plain")]))
    assert "ATTACH_SCRIPT" in findings_by_path(ctx)["readme.txt"]
    assert [f.action for f in ctx.forced] == [Action.MALICIOUS]


def test_internet_shortcut_to_a_web_page_is_a_link_not_a_banned_shortcut():
    link = b"[InternetShortcut]\r\nURL=https://wiki.example/runbook\r\n"
    ctx = scan(eml([("runbook.url", link, "application/octet-stream")]))
    assert findings_by_path(ctx) == {"runbook.url": ["ATTACH_WEB_SHORTCUT"]}
    assert ctx.forced == []


def test_internet_shortcut_to_a_file_share_is_banned():
    share = b"[InternetShortcut]\r\nURL=file://203.0.113.5/share/invoice.exe\r\nIconIndex=1\r\n"
    ctx = scan(eml([("invoice.url", share, "application/octet-stream")]))
    assert "ATTACH_SHORTCUT" in findings_by_path(ctx)["invoice.url"]
    assert [f.action for f in ctx.forced] == [Action.MALICIOUS]
