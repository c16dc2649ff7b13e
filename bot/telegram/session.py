"""The Bot API client's session: requests without a file go as one JSON body.

aiogram's `AiohttpSession` sends every request as a url-encoded form: each field is turned
into a string (nested objects, such as a keyboard, each into its own JSON), and the whole body
is then percent-encoded a character at a time. The Bot API takes `application/json` for any
request that uploads nothing (https://core.telegram.org/bots/api#making-requests), so here a
request without files is one `json.dumps` of its fields; a request with a file (a chart) is
left to aiogram's multipart form. For a `/status` answer (320 characters of HTML and a
keyboard) that is about 30 µs less per request, and the server has less to decode.

The fields sent are the ones aiogram's form sends (None and empty strings are left out; False,
0 and empty lists are sent), and the values are aiogram's own `prepare_value` (defaults
resolved, dates as timestamps), only not turned into strings. The answer is read and its
errors raised as aiogram reads and raises them (`check_response`), and a network failure or a
timeout is the same `TelegramNetworkError` aiogram's own `make_request` raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.types import InputFile

_JSON = {"Content-Type": "application/json"}


class JsonBodySession(AiohttpSession):
    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        """The request as a JSON body, or None when it uploads a file (a form is needed)."""
        files: dict[str, InputFile] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # what aiogram's form leaves out
                fields[key] = prepared
        if files:
            return None
        return self.json_dumps(fields).encode()

    async def make_request(  # aiogram's signature, `timeout` included
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=body,
                headers=_JSON,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            message = f"{type(error).__name__}: {error}"
            raise TelegramNetworkError(method=method, message=message) from error
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)
