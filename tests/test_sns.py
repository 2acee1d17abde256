"""SNS posting to OASIS: a subscription confirmation is verified and confirmed, a signed
notification (SignatureVersion 1 and 2) is triaged, and a forged, unsigned or
foreign-certificate message is 403. The certificate is a test one made here, served over
real HTTP from a local host the settings allow; by default only SNS hosts over HTTPS are."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from oasis.triage.settings import SnsSettings
from oasis.triage.sns import SnsGate, SnsRejected
from tests.servers import serving

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
TOPIC = "arn:aws:sns:eu-west-1:111122223333:ops-alarms"


def make_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


KEY, PEM = make_certificate()
OTHER_KEY, _ = make_certificate()


def canonical(message: dict[str, str]) -> bytes:
    """The string SNS signs, written out from the AWS documentation ("Verifying the
    signatures of Amazon SNS messages"): name, newline, value, newline, in this order."""
    if message["Type"] == "Notification":
        names = [
            "Message",
            "MessageId",
            *(["Subject"] if "Subject" in message else []),
            "Timestamp",
            "TopicArn",
            "Type",
        ]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names).encode()


def sign(
    message: dict[str, str], cert_url: str, version: str = "1", key: rsa.RSAPrivateKey = KEY
) -> dict[str, str]:
    signed = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signed["Signature"] = base64.b64encode(
        key.sign(canonical(signed), padding.PKCS1v15(), digest)
    ).decode()
    return signed


def alarm_message() -> dict[str, Any]:
    return {
        "AlarmName": "checkout-db-cpu-high",
        "AWSAccountId": "111122223333",
        "AlarmDescription": "Checkout database CPU above 85%",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed",
        "OldStateValue": "OK",
        "StateChangeTime": "2024-03-01T11:59:57.312+0000",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:checkout-db-cpu-high",
        "Trigger": {
            "MetricName": "CPUUtilization",
            "Namespace": "AWS/RDS",
            "Dimensions": [{"value": "checkout-db-1", "name": "DBInstanceIdentifier"}],
        },
    }


def notification(subject: str | None = "ALARM: checkout-db-cpu-high") -> dict[str, str]:
    message = {
        "Type": "Notification",
        "MessageId": "5a1e7d3c-0000-4c1e-9d1e-000000000001",
        "TopicArn": TOPIC,
        "Message": json.dumps(alarm_message()),
        "Timestamp": "2024-03-01T12:00:00.000Z",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


@pytest.fixture
def sns_host() -> Iterator[tuple[str, list[str]]]:
    """A stand-in for the SNS endpoint: the certificate, and the confirm URL it records."""
    confirmed: list[str] = []
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/SimpleNotificationService-test.pem")
    def certificate() -> PlainTextResponse:
        return PlainTextResponse(PEM.decode())

    @app.get("/confirm")
    def confirm(request: Request) -> PlainTextResponse:
        confirmed.append(request.query_params["Token"])
        return PlainTextResponse("<ConfirmSubscriptionResponse/>")

    with serving(app) as url:
        yield url, confirmed


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        notify={"email_enabled": False},
        triage={"organisation_file": ORG, "sns": {"hosts": ["127.0.0.1"], "require_https": False}},
    )
    with TestClient(create_app(settings)) as c:
        yield c


def post(client: TestClient, body: dict[str, Any]):
    return client.post(
        "/api/v1/events",
        params={"wait": True},
        json=body,
        headers={"x-amz-sns-message-type": body.get("Type", "")},
    )


def test_a_signed_subscription_confirmation_is_confirmed(client, sns_host) -> None:
    url, confirmed = sns_host
    request = sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "m-1",
            "Token": "tok-42",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe ...",
            "SubscribeURL": f"{url}/confirm?Action=ConfirmSubscription&Token=tok-42",
            "Timestamp": "2024-03-01T12:00:00.000Z",
        },
        f"{url}/SimpleNotificationService-test.pem",
    )
    response = post(client, request)
    assert response.status_code == 200
    assert response.json() == {
        "type": "SubscriptionConfirmation",
        "topic": TOPIC,
        "confirmed": True,
    }
    assert confirmed == ["tok-42"]


@pytest.mark.parametrize(("version", "subject"), [("1", "ALARM: x"), ("2", None)])
def test_a_signed_notification_is_triaged(client, sns_host, version, subject) -> None:
    url, _ = sns_host
    response = post(
        client, sign(notification(subject), f"{url}/SimpleNotificationService-test.pem", version)
    )
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert result["key"].endswith(":alarm:checkout-db-cpu-high")
    assert result["verdict"] == "accept" and result["tickets_created"]


def test_forged_unsigned_and_foreign_messages_are_403(client, sns_host) -> None:
    url, confirmed = sns_host
    cert = f"{url}/SimpleNotificationService-test.pem"
    altered = sign(notification(), cert)
    altered["Message"] = altered["Message"].replace("ALARM", "OK")
    wrong_key = sign(notification(), cert, key=OTHER_KEY)
    unsigned = notification()
    foreign = sign(notification(), "http://198.51.100.7/SimpleNotificationService-x.pem")
    bad_confirm = sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "m-2",
            "Token": "tok-9",
            "TopicArn": TOPIC,
            "Message": "subscribe",
            "SubscribeURL": "http://198.51.100.7/confirm?Token=tok-9",
            "Timestamp": "2024-03-01T12:00:00.000Z",
        },
        cert,
    )
    for body, why in (
        (altered, "does not match"),
        (wrong_key, "does not match"),
        (unsigned, "SignatureVersion"),
        (foreign, "not on an allowed host"),
        (bad_confirm, "SubscribeURL"),
    ):
        response = post(client, body)
        assert response.status_code == 403, (why, response.text)
        assert why in response.json()["detail"]
    assert confirmed == []
    assert client.get("/api/v1/events").json() == []  # nothing forged got in


def test_by_default_only_sns_hosts_over_https_are_fetched() -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return PEM

    gate = SnsGate(SnsSettings(), fetch=fetch)
    good = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
    gate.verify(sign(notification(), good, "2"))
    assert fetched == [good]
    for url in (
        "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/x.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/x.pem",
        "https://sns.eu-west-1.amazonaws.com@evil.example/x.pem",
    ):
        with pytest.raises(SnsRejected, match="not on an SNS host"):
            gate.verify(sign(notification(), url))
    assert fetched == [good]  # refused before any fetch
    gate.verify(sign(notification(), good, "1"))  # the key is cached: one fetch
    assert fetched == [good]
