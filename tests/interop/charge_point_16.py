#!/usr/bin/env python3
"""An independent OCPP 1.6J charger (the `ocpp` package from PyPI) running one full session.

Usage: charge_point_16.py WS_URL [ID_TAG]

WS_URL ends with the station id, e.g. ws://127.0.0.1:9000/ocpp/PY16. The `ocpp` library
validates every request it sends and every answer it receives against the official OCPP 1.6
JSON schemas; `suppress=False` turns any CALLERROR into an exception. On success a JSON summary
is printed on stdout and the exit code is 0.
"""

import asyncio
import json
import sys
from datetime import datetime, timedelta, timezone

import websockets
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import (
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    Reason,
    RegistrationStatus,
)

METER_START_WH = 20000
METER_STOP_WH = 27500
TIMEOUT_S = 60


def at(minutes_ago: int) -> str:
    moment = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return moment.isoformat().replace("+00:00", "Z")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


async def session(url: str, id_tag: str) -> dict:
    station_id = url.rstrip("/").rsplit("/", 1)[-1]
    async with websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=10) as ws:
        expect(ws.subprotocol == "ocpp1.6", f"negotiated subprotocol {ws.subprotocol!r}")
        cp = ChargePoint(station_id, ws, response_timeout=10)
        reader = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(
                call.BootNotification(
                    charge_point_vendor="PyOCPP",
                    charge_point_model="Interop-16",
                    charge_point_serial_number="PY-16-0001",
                    firmware_version="py-1.0",
                ),
                suppress=False,
            )
            expect(boot.status == RegistrationStatus.accepted, f"boot: {boot}")
            heartbeat = await cp.call(call.Heartbeat(), suppress=False)
            expect(bool(heartbeat.current_time), f"heartbeat: {heartbeat}")
            await cp.call(
                call.StatusNotification(
                    connector_id=1,
                    error_code=ChargePointErrorCode.no_error,
                    status=ChargePointStatus.preparing,
                    timestamp=at(0),
                ),
                suppress=False,
            )
            authorize = await cp.call(call.Authorize(id_tag=id_tag), suppress=False)
            expect(
                authorize.id_tag_info["status"] == AuthorizationStatus.accepted,
                f"authorize: {authorize}",
            )
            unknown = await cp.call(call.Authorize(id_tag="PY-UNKNOWN"), suppress=False)
            expect(
                unknown.id_tag_info["status"] == AuthorizationStatus.invalid,
                f"authorize unknown: {unknown}",
            )
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag=id_tag, meter_start=METER_START_WH, timestamp=at(10)
                ),
                suppress=False,
            )
            transaction_id = start.transaction_id
            expect(isinstance(transaction_id, int) and transaction_id > 0, f"start: {start}")
            expect(start.id_tag_info["status"] == AuthorizationStatus.accepted, f"start: {start}")
            await cp.call(
                call.StatusNotification(
                    connector_id=1,
                    error_code=ChargePointErrorCode.no_error,
                    status=ChargePointStatus.charging,
                    timestamp=at(0),
                ),
                suppress=False,
            )
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=transaction_id,
                    meter_value=[
                        {
                            "timestamp": at(5),
                            "sampled_value": [
                                {
                                    "value": "23.5",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "kWh",
                                    "context": "Sample.Periodic",
                                },
                                {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                                {"value": "64", "measurand": "SoC", "unit": "Percent"},
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            stop = await cp.call(
                call.StopTransaction(
                    meter_stop=METER_STOP_WH,
                    timestamp=at(1),
                    transaction_id=transaction_id,
                    reason=Reason.ev_disconnected,
                    id_tag=id_tag,
                    transaction_data=[
                        {
                            "timestamp": at(1),
                            "sampled_value": [
                                {
                                    "value": str(METER_STOP_WH),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                    "context": "Transaction.End",
                                }
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            await cp.call(
                call.StatusNotification(
                    connector_id=1,
                    error_code=ChargePointErrorCode.no_error,
                    status=ChargePointStatus.available,
                ),
                suppress=False,
            )
        finally:
            reader.cancel()
    return {
        "station_id": station_id,
        "boot_status": boot.status,
        "interval": boot.interval,
        "transaction_id": transaction_id,
        "meter_start_wh": METER_START_WH,
        "meter_stop_wh": METER_STOP_WH,
        "stop_id_tag_status": (stop.id_tag_info or {}).get("status"),
    }


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    url = sys.argv[1]
    id_tag = sys.argv[2] if len(sys.argv) > 2 else "PYTAG16"
    summary = asyncio.run(asyncio.wait_for(session(url, id_tag), TIMEOUT_S))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
