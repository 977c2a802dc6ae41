#!/usr/bin/env python3
"""An independent OCPP 2.0.1 charger (the `ocpp` package from PyPI) running one full session.

Usage: charge_point_201.py WS_URL [ID_TOKEN]

WS_URL ends with the station id, e.g. ws://127.0.0.1:9000/ocpp/PY201. The `ocpp` library
validates every request it sends and every answer it receives against the official OCPP 2.0.1
JSON schemas; `suppress=False` turns any CALLERROR into an exception. On success a JSON summary
is printed on stdout and the exit code is 0.
"""

import asyncio
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone

import websockets
from ocpp.v201 import ChargePoint, call

TIMEOUT_S = 60
METER_START_WH = 1000.0
METER_STOP_WH = 9250.5


def at(minutes_ago: int) -> str:
    moment = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return moment.isoformat().replace("+00:00", "Z")


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def energy(timestamp: str, value, unit: str, context: str) -> list:
    return [
        {
            "timestamp": timestamp,
            "sampled_value": [
                {
                    "value": value,
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": unit},
                }
            ],
        }
    ]


async def session(url: str, id_token: str) -> dict:
    station_id = url.rstrip("/").rsplit("/", 1)[-1]
    token = {"id_token": id_token, "type": "ISO14443"}
    evse = {"id": 1, "connector_id": 1}
    transaction_id = str(uuid.uuid4())  # the schema allows at most 36 characters
    async with websockets.connect(url, subprotocols=["ocpp2.0.1"], open_timeout=10) as ws:
        expect(ws.subprotocol == "ocpp2.0.1", f"negotiated subprotocol {ws.subprotocol!r}")
        cp = ChargePoint(station_id, ws, response_timeout=10)
        reader = asyncio.create_task(cp.start())
        try:
            boot = await cp.call(
                call.BootNotification(
                    charging_station={
                        "model": "Interop-201",
                        "vendor_name": "PyOCPP",
                        "serial_number": "PY-201-0001",
                        "firmware_version": "py-2.0",
                    },
                    reason="PowerUp",
                ),
                suppress=False,
            )
            expect(boot.status == "Accepted", f"boot: {boot}")
            heartbeat = await cp.call(call.Heartbeat(), suppress=False)
            expect(bool(heartbeat.current_time), f"heartbeat: {heartbeat}")
            await cp.call(
                call.StatusNotification(
                    timestamp=at(0), connector_status="Occupied", evse_id=1, connector_id=1
                ),
                suppress=False,
            )
            authorize = await cp.call(call.Authorize(id_token=token), suppress=False)
            expect(authorize.id_token_info["status"] == "Accepted", f"authorize: {authorize}")
            unknown = await cp.call(
                call.Authorize(id_token={"id_token": "PY-UNKNOWN", "type": "ISO14443"}),
                suppress=False,
            )
            expect(
                unknown.id_token_info["status"] in ("Unknown", "Invalid"),
                f"authorize unknown: {unknown}",
            )
            started = await cp.call(
                call.TransactionEvent(
                    event_type="Started",
                    timestamp=at(10),
                    trigger_reason="Authorized",
                    seq_no=0,
                    transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                    id_token=token,
                    evse=evse,
                    meter_value=energy(at(10), METER_START_WH, "Wh", "Transaction.Begin"),
                ),
                suppress=False,
            )
            expect(
                started.id_token_info is not None and started.id_token_info["status"] == "Accepted",
                f"started: {started}",
            )
            updated = await cp.call(
                call.TransactionEvent(
                    event_type="Updated",
                    timestamp=at(5),
                    trigger_reason="MeterValuePeriodic",
                    seq_no=1,
                    transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                    evse=evse,
                    meter_value=[
                        {
                            "timestamp": at(5),
                            "sampled_value": [
                                {
                                    "value": 5.5,
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit_of_measure": {"unit": "kWh"},
                                },
                                {
                                    "value": 22000,
                                    "measurand": "Power.Active.Import",
                                    "unit_of_measure": {"unit": "W"},
                                },
                                {
                                    "value": 71,
                                    "measurand": "SoC",
                                    "unit_of_measure": {"unit": "Percent"},
                                },
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            expect(updated.id_token_info is None, f"updated without a token: {updated}")
            await cp.call(
                call.MeterValues(
                    evse_id=1,
                    meter_value=[
                        {
                            "timestamp": at(4),
                            "sampled_value": [
                                {
                                    "value": 230.1,
                                    "measurand": "Voltage",
                                    "unit_of_measure": {"unit": "V"},
                                }
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            ended = await cp.call(
                call.TransactionEvent(
                    event_type="Ended",
                    timestamp=at(1),
                    trigger_reason="StopAuthorized",
                    seq_no=2,
                    transaction_info={"transaction_id": transaction_id, "stopped_reason": "Local"},
                    id_token=token,
                    evse=evse,
                    meter_value=energy(at(1), METER_STOP_WH, "Wh", "Transaction.End"),
                ),
                suppress=False,
            )
            await cp.call(
                call.StatusNotification(
                    timestamp=at(0), connector_status="Available", evse_id=1, connector_id=1
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
        "ended_id_token_status": (ended.id_token_info or {}).get("status"),
    }


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    url = sys.argv[1]
    id_token = sys.argv[2] if len(sys.argv) > 2 else "PYTOKEN201"
    summary = asyncio.run(asyncio.wait_for(session(url, id_token), TIMEOUT_S))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
