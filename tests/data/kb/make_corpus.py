"""Write tests/data/kb/corpus.json: support articles for 20 products x 11 kinds of problem, deterministically.

Run ``python tests/data/kb/make_corpus.py`` after changing it; the output is committed. Each article names its
product's own things (a payslip, a tunnel, a stock item), its version and platform, a cause and numbered steps.
"""
from __future__ import annotations

import json
from pathlib import Path

# key: (product name, the thing customers work on, its plural, where it runs, a setting or place customers know)
PRODUCTS = {
    "mail": ("Northwind Mail", "message", "messages", "Windows 11 desktop", "Accounts > Mailbox settings"),
    "calendar": ("Northwind Calendar", "meeting invitation", "meeting invitations", "Outlook add-in",
                 "Calendar > Sharing"),
    "vpn": ("SecureLink VPN client", "tunnel", "tunnels", "macOS 14 laptop", "Preferences > Connection"),
    "billing": ("billing portal", "invoice", "invoices", "web browser", "Account > Billing details"),
    "reports": ("reporting dashboard", "sales report", "sales reports", "web browser", "Dashboard > Data sources"),
    "files": ("Harbor file sharing", "shared folder", "shared folders", "Windows sync client",
              "Harbor > Sync settings"),
    "chat": ("Parley team chat", "channel", "channels", "Android phone", "Settings > Workspace"),
    "video": ("Parley video meetings", "video call", "video calls", "Chrome browser", "Meeting > Audio and video"),
    "crm": ("Ledger CRM", "customer record", "customer records", "web browser", "Admin > Field mappings"),
    "payroll": ("payroll service", "payslip", "payslips", "employee self-service site", "My pay > Documents"),
    "expenses": ("expense app", "receipt photo", "receipt photos", "iPhone", "Expenses > Capture settings"),
    "wiki": ("Atlas wiki", "wiki page", "wiki pages", "web browser", "Space settings > Permissions"),
    "boards": ("project boards", "task card", "task cards", "desktop app", "Board > Automation"),
    "backup": ("Vault backup agent", "backup job", "backup jobs", "Windows Server 2022", "Agent > Schedules"),
    "passwords": ("KeyRing password vault", "vault entry", "vault entries", "browser extension",
                  "Extension > Autofill"),
    "timesheets": ("timesheet app", "timesheet", "timesheets", "Android tablet", "Timesheets > Approvals"),
    "inventory": ("StockPilot inventory scanner", "stock item", "stock items", "handheld barcode scanner",
                  "Scanner > Warehouse profile"),
    "shop": ("web shop admin", "customer order", "customer orders", "web browser", "Shop > Checkout settings"),
    "surveys": ("Pulse survey tool", "survey response", "survey responses", "web browser", "Survey > Distribution"),
    "esign": ("InkFlow e-signature", "contract", "contracts", "iPad", "Documents > Signing order"),
}

# key: (title, problem, cause, resolution, tags); {p} product, {t} thing, {ts} things, {on} platform, {s} setting.
ISSUES = {
    "login-loop": (
        "{P}: sign-in keeps returning to the login page",
        "After entering the correct password in the {p}, the page reloads and asks to sign in again. No error "
        "is shown and the {ts} never open.",
        "The browser blocks third-party cookies for the single sign-on domain, so the session cookie set after "
        "sign-in is thrown away and the {p} starts over.",
        "1. Allow cookies for the sign-on domain in the browser's privacy settings. 2. Clear the site data for "
        "the {p}. 3. Sign in again; the {ts} open normally.",
        "login sign-in loop cookies sso session redirect"),
    "slow": (
        "{P} is very slow to open {ts}",
        "Opening a {t} in the {p} takes a minute or more and the window stops responding while it loads. Other "
        "programs are fast.",
        "The local cache of the {p} has grown past several gigabytes and is rebuilt on every start, which makes "
        "every {t} wait for the index.",
        "1. Quit the {p}. 2. Delete the local cache folder. 3. Start it again and let the index rebuild once; "
        "{ts} then open in a few seconds.",
        "slow performance cache index loading hang"),
    "crash": (
        "{P} crashes on startup after the latest update",
        "Since the automatic update the {p} closes immediately after its splash screen on the {on}. Reinstalling "
        "does not help.",
        "A settings file written by the previous version has a format the new version cannot read, and the "
        "{p} exits instead of reporting it.",
        "1. Rename the settings file in the user profile. 2. Start the {p}; it creates fresh settings. 3. Set "
        "up {s} again.",
        "crash startup update close immediately settings file"),
    "sync": (
        "Changes to {ts} do not sync between devices",
        "A {t} edited on one device still shows the old version on the {on} hours later. Nothing says that "
        "syncing failed.",
        "The device's sync token expired after a password change, and the {p} keeps retrying silently with "
        "the old token.",
        "1. Sign out of the {p} on the device that is behind. 2. Sign in again with the new password. 3. Check "
        "that the {t} shows the latest changes.",
        "sync devices out of date token expired password change"),
    "notifications": (
        "No notifications arrive for new {ts}",
        "New {ts} appear in the {p} but the {on} never shows a notification, so they are noticed only hours "
        "later.",
        "The operating system's battery optimisation stops the {p} in the background, so it cannot deliver "
        "notifications.",
        "1. Exclude the {p} from battery optimisation. 2. Allow notifications for it in the system settings. "
        "3. Send a test {t} and confirm the alert appears.",
        "notifications alerts battery optimisation background push"),
    "export": (
        "Exported {ts} show garbled characters in Excel",
        "When {ts} are exported from the {p} to CSV and opened in Excel, accented letters and symbols turn into "
        "strange characters.",
        "Excel opens CSV files in the legacy code page instead of UTF-8, so every non-English character is "
        "misread.",
        "1. In Excel use Data > From Text/CSV. 2. Choose UTF-8 as the file origin. 3. Or export from the {p} "
        "with the 'Excel compatible' option.",
        "export csv excel encoding utf-8 characters accents"),
    "reset-email": (
        "Password reset email for the {p} never arrives",
        "Requesting a password reset for the {p} says an email was sent, but nothing arrives, not even in "
        "the junk folder.",
        "The company mail gateway quarantines messages from the {p}'s sending domain because its SPF record "
        "was missing a new mail server.",
        "1. Ask IT to release the quarantined message. 2. Add the sending domain to the gateway's allow list. "
        "3. Request a new reset link; it expires after 30 minutes.",
        "password reset email missing spam quarantine spf"),
    "access-denied": (
        "Access denied when opening a {t} shared by a colleague",
        "Opening a {t} that a colleague shared shows 'access denied' in the {p}, although the colleague sees "
        "the person in the sharing list.",
        "Group membership changes take up to an hour to reach the {p}; the person was added to the group after "
        "the {t} was shared with it.",
        "1. Wait an hour or sign out and in again to refresh group membership. 2. If it persists, share the {t} "
        "with the person directly via {s}.",
        "access denied permission shared group membership"),
    "timeout": (
        "Large {ts} fail with a timeout in the {p}",
        "Saving or uploading a large {t} stops at about 90% and the {p} reports a timeout. Small {ts} work.",
        "The company proxy closes requests that take longer than 60 seconds, which large uploads to the {p} "
        "exceed.",
        "1. Ask IT to raise the proxy timeout for the {p}'s address to 300 seconds. 2. Meanwhile split the "
        "{t} into smaller parts or use a wired connection.",
        "timeout large upload proxy fails 90 percent"),
    "install": (
        "Installing the {p} fails with error 1603",
        "The installer for the {p} on the {on} stops with error 1603 and rolls back. The previous version was "
        "removed already.",
        "The installer needs a runtime library that is missing, and it cannot install it without "
        "administrator rights.",
        "1. Install the latest Visual C++ runtime as an administrator. 2. Run the {p} installer again with "
        "'Run as administrator'. 3. Sign in and check {s}.",
        "install installer error 1603 administrator runtime rollback"),
    "two-factor": (
        "Two-factor codes are rejected by the {p}",
        "Every six-digit code from the authenticator app is refused by the {p} with 'invalid code', even when "
        "typed quickly.",
        "The clock of the phone that generates the codes is several minutes off, so the codes belong to a "
        "different time window.",
        "1. Turn on automatic date and time on the phone. 2. In the authenticator app, sync the time. 3. Sign in "
        "to the {p} with a new code.",
        "two-factor 2fa mfa authenticator code invalid clock time"),
}
VERSIONS = ("4.2", "5.0", "5.1", "6.3", "7.0", "2024.2", "2025.1")


def article(product: str, issue: str, index: int) -> dict[str, str]:
    name, thing, things, platform, setting = PRODUCTS[product]
    title, problem, cause, resolution, tags = ISSUES[issue]
    words = {"p": name, "P": name[0].upper() + name[1:], "t": thing, "ts": things, "on": platform, "s": setting}
    return {"slug": f"{product}-{issue}", "title": title.format(**words), "problem": problem.format(**words),
            "environment": f"{name} {VERSIONS[index % len(VERSIONS)]} on {platform}",
            "cause": cause.format(**words), "resolution": resolution.format(**words),
            "tags": f"{product} {thing} {tags}", "state": "published"}


def corpus() -> list[dict[str, str]]:
    return [article(product, issue, i + j) for i, product in enumerate(PRODUCTS) for j, issue in enumerate(ISSUES)]


if __name__ == "__main__":
    target = Path(__file__).with_name("corpus.json")
    target.write_text(json.dumps(corpus(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{target}: {len(corpus())} articles")
