"""Fill locale/en/LC_MESSAGES/django.po with English for every msgid, then compile.

Usage (from the project root):
    DEBUG=1 .venv/bin/python manage.py makemessages -l en --ignore=.venv --ignore=cdp --ignore=messaging \
        --ignore=audiences --ignore=journeys --ignore=analytics --ignore=billing
    .venv/bin/python locale/fill_en.py          # exits 1 and lists msgids that have no English yet
    .venv/bin/python manage.py compilemessages -l en --ignore=.venv
"""

import re
import sys
from pathlib import Path

PO = Path(__file__).resolve().parent / "en" / "LC_MESSAGES" / "django.po"

HEADER = {
    "Project-Id-Version": "social-cdp",
    "PO-Revision-Date": "2026-11-23 00:00+0000",
    "Last-Translator": "Social CDP team",
    "Language-Team": "English",
    "Language": "en",
}

EN = {
    # Shell and menu
    "Social CDP": "Social CDP",
    "主選單": "Main menu",
    "金鑰名稱，例如：官網整合": "Key name, e.g. Website integration",
    "成員的 Email": "Member's email",
    "顧客": "Customers",
    "方案：每個旅程觸發次數上限": "Plan: trigger limit per journey",
    "每個旅程可被觸發的總次數（重複計算），於旅程發佈時套用；留白表示不限。": (
        "How many times each journey can be triggered in all (repeats counted), applied when a journey is "
        "published; leave empty for no limit."
    ),
    "分析": "Analytics",
    "受眾包": "Audiences",
    "推播": "Broadcasts",
    "顧客旅程": "Journeys",
    "帳戶與帳單": "Billing",
    "設定": "Settings",
    "API 文件": "API docs",
    "查看": "View",
    "選單": "Menu",
    "切換團隊": "Switch team",
    "登出": "Sign out",
    # Auth pages
    "全渠道顧客資料平台": "Omnichannel customer data platform",
    "官網": "Website",
    "已登出": "Signed out",
    "您已登出": "You have been signed out",
    "重新登入": "Sign in again",
    "登入": "Sign in",
    "登入您的帳號": "Sign in to your account",
    "帳號（Email）": "Username (email)",
    "密碼": "Password",
    "忘記密碼？": "Forgot your password?",
    "密碼已變更": "Password changed",
    "請使用新密碼登入。": "Please sign in with your new password.",
    "設定新密碼": "Set a new password",
    "新密碼": "New password",
    "確認新密碼": "Confirm new password",
    "變更密碼": "Change password",
    "這個重設連結已失效，請重新申請。": "This reset link is no longer valid. Please request a new one.",
    "重新申請": "Request a new link",
    "已寄出重設連結": "Reset link sent",
    "請查收您的 Email": "Check your email",
    "若這個 Email 有註冊帳號，您很快就會收到重設密碼的連結。": (
        "If an account is registered with this email, you will receive a password reset link shortly."
    ),
    "返回登入": "Back to sign in",
    "您（或其他人）申請了重設 Social CDP 帳號的密碼。請點擊以下連結設定新密碼：": (
        "You (or someone else) asked to reset the password of your Social CDP account. "
        "Follow this link to set a new password:"
    ),
    "如果您沒有提出申請，請忽略這封信。": "If you did not make this request, you can ignore this email.",
    "重設密碼": "Reset password",
    "輸入您的 Email，我們會寄送重設密碼的連結給您。": (
        "Enter your email and we will send you a link to reset your password."
    ),
    "寄送重設連結": "Send reset link",
    "Social CDP 密碼重設": "Social CDP password reset",
    # Error pages and team states
    "沒有權限": "Permission denied",
    "您的角色沒有這個功能的權限，請聯絡團隊管理員。": (
        "Your role does not have access to this feature. Please contact your team administrator."
    ),
    "回到首頁": "Back to home",
    "找不到頁面": "Page not found",
    "找不到這個頁面，或您沒有權限查看。": "This page does not exist, or you do not have permission to view it.",
    "這個模組正在建置中，將在後續版本開放。": (
        "This module is under construction and will be available in a later release."
    ),
    "尚未加入團隊": "No team yet",
    "尚未加入任何團隊": "You are not a member of any team yet",
    "請聯絡團隊管理員將您加入團隊。": "Please ask a team administrator to add you to a team.",
    # Team model and settings form
    "時區": "Time zone",
    "名稱": "Name",
    "角色": "Role",
    "Email": "Email",
    "找不到這個 Email 的使用者，請先請對方註冊帳號。": (
        "No user with this email was found. Ask them to create an account first."
    ),
    "未知的時區：%(tz)s": "Unknown time zone: %(tz)s",
    "代碼": "Slug",
    "幣別": "Currency",
    "預設電話區碼地區": "Default phone region",
    "解析沒有國碼的電話號碼時使用（ISO 3166）。": "Used to parse phone numbers without a country code (ISO 3166).",
    "名單配額": "Contact quota",
    "帳單 Email": "Billing email",
    "團隊頭像": "Team avatar",
    "以電話合併顧客": "Merge customers by phone",
    "以 Email 合併顧客": "Merge customers by email",
    "LINE 每則訊息費用": "LINE cost per message",
    "LINE 費用幣別": "LINE cost currency",
    "WhatsApp 每則訊息費用": "WhatsApp cost per message",
    "WhatsApp 費用幣別": "WhatsApp cost currency",
    "營收歸因天數": "Revenue attribution window (days)",
    "顧客點擊旅程訊息的按鈕或連結後，幾天內完成的訂單算作旅程導購。": (
        "Orders completed within this many days after the customer clicked a button or link of a journey message "
        "count as driven by the journey."
    ),
    "匯率": "Exchange rates",
    "匯率格式錯誤。": "The exchange rates are not in the expected format.",
    "幣別需為三個大寫英文字母（ISO 4217）：%(code)s": "A currency is three capital letters (ISO 4217): %(code)s",
    "%(code)s 的匯率需為大於 0 的數字。": "The exchange rate of %(code)s must be a number greater than 0.",
    "第 %(n)s 行：請寫成「幣別 匯率」，例如 HKD 4.05。": 'Line %(n)s: write "currency rate", e.g. HKD 4.05.',
    "每行一個幣別：「HKD 4.05」表示 1 HKD = 4.05 團隊幣別。用於跨幣別計算廣告投資報酬率。": (
        'One currency a line: "HKD 4.05" means 1 HKD = 4.05 of the team\'s currency. Used for ROAS across currencies.'
    ),
    "對外 Webhook URL": "Outgoing webhook URL",
    "對外 Webhook 密鑰": "Outgoing webhook secret",
    "建立時間": "Created at",
    "團隊": "Team",
    "成員": "Members",
    "最後使用時間": "Last used",
    "撤銷時間": "Revoked at",
    "API 金鑰": "API keys",
    # Roles
    "擁有者": "Owner",
    "管理員": "Admin",
    "行銷人員": "Marketer",
    "客服主管": "Support lead",
    "業務主管": "Sales lead",
    "客服人員": "Support agent",
    # Permissions
    "查看顧客與聯絡人": "View customers and contacts",
    "編輯顧客、標籤、自訂屬性、取消訂閱": "Edit customers, tags, custom attributes and unsubscribes",
    "匯入聯絡人": "Import contacts",
    "匯出聯絡人": "Export contacts",
    "合併與取消合併顧客": "Merge and unmerge customers",
    "查看分析報表": "View analytics reports",
    "管理受眾包": "Manage audiences",
    "建立與發送推播": "Create and send broadcasts",
    "管理顧客旅程": "Manage journeys",
    "查看對話": "View conversations",
    "回覆對話": "Reply to conversations",
    "匯出對話紀錄": "Export conversation history",
    "管理關鍵字自動回覆 / 指派": "Manage keyword auto-replies and assignment",
    "連結與設定渠道": "Connect and configure channels",
    "查看帳戶餘額與帳單": "View account balance and bills",
    "儲值與帳單設定": "Top up and billing settings",
    "WhatsApp 費用自帳戶餘額扣款：每則金額（團隊幣別，留白表示由 Meta 計費）": (
        "WhatsApp paid from the account balance: price per message (team currency; empty = billed by Meta)"
    ),
    "發送簡訊（快捷簡訊、手機綁定），自帳戶餘額扣款": (
        "Send SMS (quick SMS, phone binding), paid from the account balance"
    ),
    "管理團隊設定、成員與 API 金鑰": "Manage team settings, members and API keys",
    "只有擁有者可以移除擁有者。": "Only an owner can remove an owner.",
    "團隊至少要有一位擁有者。": "A team must have at least one owner.",
    "只有擁有者可以指派擁有者。": "Only an owner can assign the owner role.",
    "只有擁有者可以變更擁有者的角色。": "Only an owner can change an owner's role.",
    "您不能指派高於自己角色的角色。": "You cannot give a role above your own.",
    "您已不是這個團隊的成員。": "You are no longer a member of this team.",
    # Sign-in throttling
    "登入失敗次數過多，暫時無法登入，請於 %(minutes)s 分鐘後再試。": (
        "Too many failed sign-in attempts. Please wait %(minutes)s min and try again."
    ),
    "重設密碼的申請次數過多，請於 %(minutes)s 分鐘後再試。": (
        "Too many password reset requests. Please wait %(minutes)s min and try again."
    ),
    # Settings page
    "團隊設定": "Team settings",
    "基本設定": "General",
    "配額由營運人員調整。": "The quota is adjusted by our operations team.",
    "儲存": "Save",
    "確定要移除這位成員？": "Remove this member?",
    "移除": "Remove",
    "加入成員": "Add member",
    "新的 API 金鑰（只會顯示這一次，請立即複製保存）：": (
        "Your new API key (shown only this once; copy it and store it safely now):"
    ),
    "前綴": "Prefix",
    "狀態": "Status",
    "啟用中": "Active",
    "已撤銷": "Revoked",
    "撤銷後使用這把金鑰的整合會立即失效，確定撤銷？": (
        "Integrations using this key will stop working immediately. Revoke it?"
    ),
    "撤銷": "Revoke",
    "尚未建立 API 金鑰。": "No API keys yet.",
    "建立金鑰": "Create key",
    "角色權限": "Role permissions",
    "團隊設定已儲存。": "Team settings saved.",
    # Outbound webhook
    "對外 Webhook": "Outgoing webhook",
    "旅程變更顧客屬性時，以簽章的 POST 通知此網址（需為 https 公開網址）。": (
        "When a journey changes a customer's attribute, a signed POST is sent here (a public https URL)."
    ),
    "網址格式不正確。": "This URL is not valid.",
    "網址必須以 https:// 開頭。": "The URL must start with https://.",
    "網址缺少主機名稱。": "The URL has no host name.",
    "不可傳送到本機或雲端中繼資料位址（%(host)s）。": (
        "Cannot send to this machine or a cloud metadata address (%(host)s)."
    ),
    "無法解析主機名稱 %(host)s。": "The host name %(host)s does not resolve.",
    "不可傳送到內部網路位址：%(host)s 解析為 %(address)s（%(reason)s）。": (
        "Cannot send to an internal network address: %(host)s resolves to %(address)s (%(reason)s)."
    ),
    "對外 Webhook 傳送": "Outgoing webhook delivery",
    "待處理交接": "Pending hand-off",
    "事件類型": "Event type",
    "內容": "Payload",
    "待傳送": "Pending",
    "已送達": "Delivered",
    "失敗": "Failed",
    "嘗試次數": "Attempts",
    "下次嘗試時間": "Next attempt",
    "最後傳送網址": "Last URL",
    "最後回應碼": "Last status code",
    "最後錯誤": "Last error",
    "更新時間": "Updated",
    "送達時間": "Delivered at",
    "傳送至": "Sent to",
    "每次傳送都帶有 X-SocialCDP-Signature 標頭（HMAC-SHA256，含時間戳記），驗證方式見 README「Outbound webhook」。": (
        "Every delivery carries an X-SocialCDP-Signature header (HMAC-SHA256 with a timestamp); see "
        '"Outbound webhook" in the README for how to verify it.'
    ),
    "已產生新的簽章密鑰，之後的傳送都以新密鑰簽章。": (
        "A new signing secret was generated; deliveries from now on use it."
    ),
    "顯示簽章密鑰": "Show signing secret",
    "更換後舊密鑰立即失效，接收端需同步更新，確定更換？": (
        "The old secret stops working at once and your receiver must be updated. Rotate it?"
    ),
    "更換密鑰": "Rotate secret",
    "在上方基本設定填入對外 Webhook URL 後，旅程變更顧客屬性時會以簽章的 POST 通知該網址。": (
        "Set an outgoing webhook URL above: when a journey changes a customer's attribute, a signed POST is sent there."
    ),
    "最近傳送": "Recent deliveries",
    "最後回應": "Last response",
    "尚無傳送紀錄。": "No deliveries yet.",
    # Scale-out: retention and the replica's freshness line
    "事件紀錄保留月數": "Event log retention (months)",
    "資料時間：%(as_of)s（讀取副本，延遲 %(lag)s 秒）": "Data as of %(as_of)s (read replica, %(lag)s s behind)",
    "留言自動回覆": "Comment replies",
    "建立與管理對話下單訂單": "Create and manage Chat to Order orders",
    "對話下單基本設定與目錄商品": "Chat to Order settings and catalog products",
    "對話下單": "Chat to Order",
    # Points ledger (社群點數)
    "允許點數餘額為負": "Allow negative points balances",
    "關閉時，扣點後餘額不可低於 0。": "When off, a deduction never takes a balance below 0.",
    "訂單集點：每消費多少金額得 1 點": "Order points: amount spent per point",
    "以團隊幣別計算，例如 100 表示每 100 元得 1 點；留白表示結帳不自動給點。": (
        "In the team's currency, e.g. 100 gives 1 point per 100 spent; empty: checkouts earn no points."
    ),
    # carried from inbox
    "即將推出": "Coming soon",
    "訊息": "Messaging",
    "對話收件匣": "Inbox",
    "渠道": "Channels",
    "關鍵字自動回覆": "Keyword rules",
    "機器人模組": "Chatbot modules",
    # carried from inbox
    'LINE、Facebook、Instagram、WhatsApp 與簡訊渠道，請到 <a href="%(channels_url)s">訊息 › 渠道</a> 連結並取得 Webhook URL。': 'Connect LINE, Facebook, Instagram, WhatsApp and SMS channels and get their webhook URLs under <a href="%(channels_url)s">Messaging › Channels</a>.',  # noqa: E501
    # carried from sources
    # carried from commerce
    # carried from omnilink
    # carried from coupons
    "綁定連結有效天數": "Binding link validity (days)",
    "對話中導向官網的按鈕所帶的綁定連結，幾天內有效。": "How many days the binding link carried by chat buttons to the website stays valid.",  # noqa: E501
    "優惠券管理": "Coupons",
    # carried from console
    "關閉": "Close",
    "操作沒有完成，請再試一次。": "That did not work. Please try again.",
    "無法連線到伺服器，請檢查網路後再試。": "The server could not be reached. Check your connection and try again.",
    "系統發生錯誤，我們已記錄下來。請稍後再試；問題持續時請聯絡管理員。": "Something went wrong on our side and it has been logged. Please try again later; if it keeps happening, contact your administrator.",  # noqa: E501
    "搜尋…": "Search...",
    "沒有符合的選項": "No match",
    # carried from console
    # carried from console
    "未訂閱或已取消訂閱": "Not subscribed or unsubscribed",
    "已封鎖官方帳號": "Blocked the account",
    "超出名單配額": "Over the contact quota",
    "發送規則不允許": "Not allowed by the sending rules",
    "渠道訊息額度已用完": "Channel message budget used up",
    "渠道已停用": "Channel disabled",
    "勿擾時段": "Do-not-disturb hours",
    "超過 24 小時客服時段": "Outside the 24-hour service window",
    "已取消訂閱": "Unsubscribed",
    "需使用 WhatsApp 訊息範本": "Needs a WhatsApp message template",
}


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _unquote(line):
    return line.strip()[1:-1].encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def fill(path=PO):
    lines = path.read_text(encoding="utf-8").splitlines()
    out, missing, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("msgid "):
            parts = [line[len("msgid ") :]]
            i += 1
            while i < len(lines) and lines[i].startswith('"'):
                parts.append(lines[i])
                i += 1
            msgid = "".join(_unquote(p) for p in parts)
            out.extend(["msgid " + parts[0], *parts[1:]])
            # Skip the existing msgstr (and its continuation lines).
            msgstr_lines = []
            if i < len(lines) and lines[i].startswith("msgstr "):
                msgstr_lines.append(lines[i])
                i += 1
                while i < len(lines) and lines[i].startswith('"'):
                    msgstr_lines.append(lines[i])
                    i += 1
            if msgid == "":
                header = "".join(_unquote(p) for p in [m.removeprefix("msgstr ") for m in msgstr_lines])
                for field, value in HEADER.items():
                    header = re.sub(rf"{field}: [^\n]*", f"{field}: {value}", header)
                out.append('msgstr ""')
                out.extend(_quote(h + "\n") for h in header.rstrip("\n").split("\n"))
                if i < len(lines) and lines[i].strip():
                    out.append("")
            elif msgid in EN:
                out.append("msgstr " + _quote(EN[msgid]))
            else:
                missing.append(msgid)
                out.extend(msgstr_lines)
            continue
        if line.startswith("#,"):
            flags = [f.strip() for f in line[2:].split(",") if f.strip() and f.strip() != "fuzzy"]
            if flags:
                out.append("#, " + ", ".join(flags))
            i += 1
            continue
        out.append(line)
        i += 1
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return missing


if __name__ == "__main__":
    missing = fill()
    for msgid in missing:
        print("missing English for:", msgid, file=sys.stderr)
    sys.exit(1 if missing else 0)
