"""The emulator on its own, over loopback HTTP: the gateway's behaviour as the reference
describes it, whatever client talks to it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import urllib3

from smsgate.testing import FakeClock
from smsgate_bulksms.emulator import BulkSmsEmulator

SEND = "/eapi/submission/send_sms/2/2.0"
BATCH = "/eapi/submission/send_batch/1/1.0"
REPORT = "/eapi/status_reports/get_report/2/2.0"
AUTH = {"username": "smsgate", "password": "bulksms-emu-s3cret"}


def post(http: urllib3.PoolManager, emulator: BulkSmsEmulator, path: str, **fields: str) -> str:
    body = urlencode({**AUTH, **fields}, encoding="iso-8859-1")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    reply = http.request("POST", emulator.base_url + path, body=body, headers=headers)
    assert reply.status == 200 and reply.headers["Content-Type"] == "text/plain"
    return str(reply.data.decode("iso-8859-1"))


def test_get_works_as_in_the_documentation_examples(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    query = urlencode({**AUTH, "message": "Hi Mom & Dad", "msisdn": "44123123456,44123123457"})
    reply = http.request("GET", f"{emulator.base_url}{SEND}?{query}")
    code, description, batch_id = reply.data.decode().split("|")
    assert (code, description) == ("0", "IN_PROGRESS") and int(batch_id) > 0
    assert [r.text for r in emulator.submissions[batch_id].recipients] == ["Hi Mom & Dad"] * 2


def test_bad_credentials(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    assert post(http, emulator, SEND, password="nope", message="x", msisdn="44123123456") == (
        "23|invalid credentials (username was: smsgate)|"
    )
    assert post(http, emulator, "/eapi/user/get_credits/1/1.1", password="nope") == (
        "23|invalid credentials (username was: smsgate)"
    )


def test_unknown_path_is_404(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    assert http.request("POST", emulator.base_url + "/eapi/submission/send_sms/3/3.0").status == 404


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"msisdn": "44123123456"}, "message is required"),
        ({"message": "x"}, "msisdn or dest_group_id is required"),
        ({"message": "x", "msisdn": "44123,abc"}, "invalid msisdn"),
        ({"message": "x", "msisdn": "44123123456", "repliable": "1", "sender": "Shop"}, "repliable"),
        ({"message": "x", "msisdn": "44123123456", "dca": "9bit"}, "dca"),
        ({"message": "00e", "msisdn": "44123123456", "dca": "16bit"}, "hexadecimal"),
        ({"message": "00e9ff", "msisdn": "44123123456", "dca": "16bit"}, "whole UTF-16"),
        ({"message": "x" * 161, "msisdn": "44123123456"}, "allow_concat_text_sms is not 1"),
        (
            {"message": "x" * 400, "msisdn": "44123123456", "allow_concat_text_sms": "1"},
            "concat_text_sms_max_parts is 2",
        ),
        ({"message": "x", "msisdn": "44123123456", "send_time": "tomorrow"}, "send_time"),
        ({"message": "x", "msisdn": "44123123456", "msg_class": "7"}, "msg_class"),
        ({"message": "x", "msisdn": "44123123456", "stop_dup_id": "0"}, "stop_dup_id"),
        ({"message": "x", "msisdn": "44123123456", "stop_dup_id": "2147483648"}, "stop_dup_id"),
    ],
)
def test_data_validation_failures_are_24(
    http: urllib3.PoolManager, emulator: BulkSmsEmulator, fields: dict[str, str], why: str
) -> None:
    reply = post(http, emulator, SEND, **fields)
    assert reply.startswith("24|data validation failed: ") and why in reply and reply.endswith("|")
    assert not emulator.submissions


def test_length_rules(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    ok = [
        {"message": "x" * 160},
        {"message": "[" * 80},  # extension characters count two septets
        {"message": "x" * 306, "allow_concat_text_sms": "1"},
        {"message": "x" * 459, "allow_concat_text_sms": "1", "concat_text_sms_max_parts": "3"},
        {"message": "00e9" * 70, "dca": "16bit"},
        {"message": "ff" * 140, "dca": "8bit"},
    ]
    too_long = [{"message": "[" * 81}, {"message": "00e9" * 71, "dca": "16bit"}, {"message": "ff" * 141, "dca": "8bit"}]
    for fields in ok:
        assert post(http, emulator, SEND, msisdn="44123123456", **fields).startswith("0|"), fields
    for fields in too_long:
        assert post(http, emulator, SEND, msisdn="44123123456", **fields).startswith("24|"), fields


def test_stop_dup_id_replays_the_first_reply(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    first = post(http, emulator, SEND, message="first", msisdn="44123123456", stop_dup_id="77")
    assert post(http, emulator, SEND, message="second", msisdn="44123123457", stop_dup_id="77") == first
    assert len(emulator.submissions) == 1
    bad = post(http, emulator, SEND, msisdn="44123123456", stop_dup_id="78")
    assert post(http, emulator, SEND, message="fixed", msisdn="44123123456", stop_dup_id="78") == bad  # failures too


def test_send_time_in_the_past_is_sent_now(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    emulator.clock = FakeClock(1_767_225_600.0)  # 2026-01-01 00:00 UTC
    assert post(http, emulator, SEND, message="x", msisdn="44123123456", send_time="2025-12-31 23:00:00").startswith(
        "0|"
    )
    assert post(http, emulator, SEND, message="x", msisdn="44123123456", send_time="2026-01-01 00:00:01").startswith(
        "1|SCHEDULED|"
    )
    unix = post(http, emulator, SEND, message="x", msisdn="44123123456", send_time_unixtime="1767225660")
    assert unix.startswith("1|")


def test_send_batch_csv(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    data = (
        "msisdn,message,sender\n"
        '"111111111","Hi there",Shop\n'
        '"333333333","Hello again. Here is some \\"quoted text\\".\\\nThis text follows a newline",\n'
        '222222222,"a ""doubled"" quote, and a comma"\n'
        '"not-a-number","skipped"\n'
        '"444444444"\n'
    )
    reply = post(http, emulator, BATCH, batch_data=data, sender="Default")
    code, _, batch_id = reply.split("|")
    assert code == "0"
    rows = [(r.msisdn, r.text) for r in emulator.submissions[batch_id].recipients]
    assert rows == [
        ("111111111", "Hi there"),
        ("333333333", 'Hello again. Here is some "quoted text".\nThis text follows a newline'),
        ("222222222", 'a "doubled" quote, and a comma'),
    ]
    assert post(http, emulator, BATCH, batch_data="number,text\n1,2").startswith("24|")
    assert post(http, emulator, BATCH, batch_data='msisdn,message\n"x","y"').startswith("24|")


def test_send_batch_maximum_is_201(http: urllib3.PoolManager) -> None:
    with BulkSmsEmulator(max_batch_messages=2) as emulator:
        data = "msisdn,message\n" + "\n".join(f'"4477009000{i}","m{i}"' for i in range(3))
        assert post(http, emulator, BATCH, batch_data=data) == "201|Maximum batch size exceeded|"


def test_get_report_and_header_spellings(http: urllib3.PoolManager) -> None:
    with BulkSmsEmulator(report_header="Returns to follow") as emulator:
        batch_id = post(http, emulator, SEND, message="x", msisdn="44123123456,44123123457").split("|")[2]
        assert (
            post(http, emulator, REPORT, batch_id=batch_id) == "0|Returns to follow\n\n44123123456|11\n44123123457|11\n"
        )
        assert (
            post(http, emulator, REPORT, batch_id=batch_id, msisdn="44123123457")
            == "0|Returns to follow\n\n44123123457|11\n"
        )
        assert post(http, emulator, REPORT, batch_id="5") == "0|Returns to follow\n\n"
        assert post(http, emulator, REPORT).startswith("24|")
        assert post(http, emulator, REPORT, batch_id=batch_id, optional_fields="colour").startswith("24|")
        fields = post(http, emulator, REPORT, batch_id=batch_id, optional_fields="credits,origin_address")
        assert fields.splitlines()[2] == "44123123456|11|1.00|"


def test_report_status_moves_with_the_clock(http: urllib3.PoolManager) -> None:
    with BulkSmsEmulator(delivery_delay=30, delivery_status="51") as emulator:
        emulator.clock = clock = FakeClock(1_000_000.0)
        batch_id = post(http, emulator, SEND, message="x", msisdn="44123123456").split("|")[2]
        assert post(http, emulator, REPORT, batch_id=batch_id).endswith("44123123456|0\n")
        clock.now += 30
        assert post(http, emulator, REPORT, batch_id=batch_id).endswith("44123123456|51\n")


def test_get_report_1_0(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    batch_id = post(http, emulator, "/eapi/submission/send_sms/1/1.1", message="x", msisdn="44123123456").split("|")[2]
    reply = post(http, emulator, "/eapi/1.0/get_report.mc", msg_id=batch_id)
    assert reply == "1000|Results to follow\n\n44123123456|11|Delivered to mobile\n"
    two = post(http, emulator, "/eapi/submission/send_sms/1/1.1", message="x", msisdn="44123123456,44123123457")
    one = post(http, emulator, "/eapi/1.0/get_report.mc", msg_id=two.split("|")[2], msisdn="44123123457")
    assert one == "1000|Results to follow\n\n44123123457|11|Delivered to mobile\n"
    assert post(http, emulator, "/eapi/1.0/get_report.mc", msg_id="1") == "1001|Message not found"


def test_credits_and_quotes(http: urllib3.PoolManager, emulator: BulkSmsEmulator) -> None:
    assert post(http, emulator, "/eapi/user/get_credits/1/1.1") == "0|1000.00"
    quote = {"message": "x" * 200, "msisdn": "44123123456", "allow_concat_text_sms": "1"}
    assert post(http, emulator, "/eapi/submission/quote_sms/2/2.0", **quote) == "0|Quotation issued|2.00"
    assert post(http, emulator, "/eapi/submission/quote_sms/1/1.1", **quote) == "1000|Quotation issued|2.00"
    post(http, emulator, SEND, **quote)
    assert post(http, emulator, "/eapi/user/get_credits/1/1.1") == "0|998.00"


def test_dsn_reaches_the_emulator(emulator: BulkSmsEmulator) -> None:
    assert emulator.dsn() == f"bulksms://smsgate:bulksms-emu-s3cret@127.0.0.1:{emulator.port}?tls=false"
