"""WeChat Official Account payloads in the documented (recorded) XML format, and signed / encrypted requests.

The 安全模式 vectors are WeChat's own sample data (WXBizMsgCrypt samples): the encryption known answer (vector
"A", fixed random bytes) and a recorded encrypted text message with its msg_signature (vector "C")."""

import time
from urllib.parse import urlencode

from messaging.services import wechat

TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
APP_SECRET = "s3cret"
ORIGINAL_ID = "gh_10f6c3c3ac5a"
OPENID = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"

# Vector A: encrypt("我是中文abcd123") with random "aaaabbbbccccdddd" for wxb11529c136998cb6.
VECTOR_A = {
    "app_id": "wxb11529c136998cb6",
    "random": b"aaaabbbbccccdddd",
    "text": "我是中文abcd123",
    "cipher": "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==",
}
# Vector C: a recorded 兼容模式 POST (plaintext fields and <Encrypt>) of a text message "abcdteT".
VECTOR_C_QUERY = {
    "signature": "ignored-in-aes-mode",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "encrypt_type": "aes",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
}
VECTOR_C_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    "</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655H"
    "uD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWN"
    "lZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tC"
    "Op3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumE"
    "Po5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>"
)


def now():
    return int(time.time())


def _xml(fields):
    parts = []
    for key, value in fields.items():
        text = str(value)
        parts.append(f"<{key}>{text}</{key}>" if isinstance(value, int) else f"<{key}><![CDATA[{text}]]></{key}>")
    return "<xml>" + "".join(parts) + "</xml>"


def _base(msg_type, user, at):
    return {"ToUserName": ORIGINAL_ID, "FromUserName": user, "CreateTime": at or now(), "MsgType": msg_type}


def text(content, msg_id, user=OPENID, at=None):
    return _xml({**_base("text", user, at), "Content": content, "MsgId": msg_id})


def image(msg_id, user=OPENID, at=None):
    pic = "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0"
    return _xml({**_base("image", user, at), "PicUrl": pic, "MediaId": "media_id_1", "MsgId": msg_id})


def voice(msg_id, user=OPENID, at=None):
    fields = {"MediaId": "media_id_2", "Format": "amr", "Recognition": "我要優惠", "MsgId": msg_id}
    return _xml({**_base("voice", user, at), **fields})


def location(msg_id, user=OPENID, at=None):
    fields = {"Location_X": "25.033", "Location_Y": "121.5654", "Scale": "20", "Label": "台北101", "MsgId": msg_id}
    return _xml({**_base("location", user, at), **fields})


def link(msg_id, user=OPENID, at=None):
    fields = {"Title": "新品", "Description": "看看", "Url": "https://shop.example.com/new", "MsgId": msg_id}
    return _xml({**_base("link", user, at), **fields})


def event(name, user=OPENID, at=None, **extra):
    return _xml({**_base("event", user, at), "Event": name, **extra})


def query(token=TOKEN, timestamp="1409735669", nonce="1320562132"):
    """A plaintext POST's (or the URL check's) signed query string."""
    return {"signature": wechat.signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def post(client, channel, xml, *, encrypted=False, token=TOKEN, aes_key=AES_KEY, app_id=APP_ID, params=None):
    """POST as WeChat does: plaintext with `signature`, or 安全模式 with <Encrypt> and `msg_signature`."""
    params = dict(params or query(token))
    body = xml
    if encrypted:
        cipher = wechat.encrypt(aes_key, app_id, xml)
        body = f"<xml><ToUserName><![CDATA[{ORIGINAL_ID}]]></ToUserName><Encrypt><![CDATA[{cipher}]]></Encrypt></xml>"
        params.update(
            encrypt_type="aes",
            msg_signature=wechat.signature(token, params["timestamp"], params["nonce"], cipher),
        )
    url = f"/webhooks/wechat/{channel.pk}/?{urlencode(params)}"
    return client.post(url, data=body.encode(), content_type="text/xml")
