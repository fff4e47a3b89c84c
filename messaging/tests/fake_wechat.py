"""A local fake of WeChat's Official Account API on 127.0.0.1 (built on FakePlatform): cgi-bin/token issues
numbered tokens (a new one invalidates the old, as WeChat does), custom/send and template/send answer WeChat's
errcode JSON and refuse a token that is not the current one with 40001."""

from urllib.parse import parse_qs

from .fake_platform import FakePlatform

INVALID_TOKEN = {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}


class FakeWeChat(FakePlatform):
    def __init__(self, app_id="wx2c2769f8efd9abc2", app_secret="s3cret"):
        super().__init__()
        self.app_id, self.app_secret = app_id, app_secret
        self.tokens_issued = 0
        self.current = ""
        self.expires_in = 7200
        self.send_answer = None  # None: {"errcode": 0, ...}; else a dict answered once to the next send
        self.route("GET", "/cgi-bin/token", self._token)
        self.route("POST", "/cgi-bin/message/custom/send", self._send)
        self.route("POST", "/cgi-bin/message/template/send", self._send)
        self.route("POST", "/cgi-bin/qrcode/create", self._qrcode)

    @staticmethod
    def params(request):
        return {k: v[0] for k, v in parse_qs(request["query"]).items()}

    def _token(self, request):
        query = self.params(request)
        if query.get("appid") != self.app_id or query.get("secret") != self.app_secret:
            return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}, {}
        self.tokens_issued += 1
        self.current = f"ACCESS_TOKEN_{self.tokens_issued}"
        return 200, {"access_token": self.current, "expires_in": self.expires_in}, {}

    def _send(self, request):
        if self.params(request).get("access_token") != self.current:
            return 200, INVALID_TOKEN, {}
        if self.send_answer is not None:
            answer, self.send_answer = self.send_answer, None
            return 200, answer, {}
        if request["path"].endswith("template/send"):
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": 200228332}, {}
        return 200, {"errcode": 0, "errmsg": "ok"}, {}

    def _qrcode(self, request):
        if self.params(request).get("access_token") != self.current:
            return 200, INVALID_TOKEN, {}
        scene = request["json"]["action_info"]["scene"]["scene_str"]
        ticket = f"gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL{len(scene)}"
        return 200, {"ticket": ticket, "expire_seconds": None, "url": f"http://weixin.qq.com/q/{scene}"}, {}

    def sends(self):
        return [r for r in self.requests if r["path"].startswith("/cgi-bin/message/") and r["status"] == 200]
