#!/usr/bin/env python3
"""An independent charger (the `ocpp` package from PyPI) that answers the CSMS's commands.

Usage: command_responder.py WS_URL VERSION

VERSION is `1.6` or `2.0.1`. The charger boots, then answers every command the CSMS sends
(the `ocpp` library validates each CALL against the official JSON schemas and answers an
invalid one with a CALLERROR, which the CSMS reports as 502). A remote start is followed by a
transaction start with the same token, a remote stop by the transaction's end. A DataTransfer
with messageId `stop` ends the run; the JSON summary on stdout lists every action received.
"""

import asyncio
import json
import sys
from datetime import datetime, timezone

import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201

TIMEOUT_S = 60


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Responder16(ChargePoint16):
    """Answers every 1.6 command the CSMS sends."""

    def setup(self) -> None:
        self.received = []
        self.done = asyncio.Event()
        self.transaction_id = None

    @on(Action16.remote_start_transaction)
    def remote_start(self, id_tag, connector_id=None, **_):
        self.received.append("RemoteStartTransaction")
        self.remote_tag = id_tag
        self.remote_connector = connector_id or 1
        return result16.RemoteStartTransaction(status="Accepted")

    @after(Action16.remote_start_transaction)
    async def start_transaction(self, **_):
        started = await self.call(
            call16.StartTransaction(
                connector_id=self.remote_connector,
                id_tag=self.remote_tag,
                meter_start=100,
                timestamp=now(),
            ),
            suppress=False,
        )
        self.transaction_id = started.transaction_id

    @on(Action16.remote_stop_transaction)
    def remote_stop(self, transaction_id, **_):
        self.received.append("RemoteStopTransaction")
        ok = transaction_id == self.transaction_id
        return result16.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    @after(Action16.remote_stop_transaction)
    async def stop_transaction(self, transaction_id, **_):
        await self.call(
            call16.StopTransaction(
                transaction_id=transaction_id, meter_stop=600, timestamp=now(), reason="Remote"
            ),
            suppress=False,
        )

    @on(Action16.reset)
    def reset(self, **_):
        self.received.append("Reset")
        return result16.Reset(status="Accepted")

    @on(Action16.unlock_connector)
    def unlock(self, **_):
        self.received.append("UnlockConnector")
        return result16.UnlockConnector(status="Unlocked")

    @on(Action16.change_availability)
    def availability(self, **_):
        self.received.append("ChangeAvailability")
        return result16.ChangeAvailability(status="Accepted")

    @on(Action16.trigger_message)
    def trigger(self, **_):
        self.received.append("TriggerMessage")
        return result16.TriggerMessage(status="Accepted")

    @on(Action16.get_configuration)
    def get_configuration(self, key=None, **_):
        self.received.append("GetConfiguration")
        keys = key or ["HeartbeatInterval"]
        return result16.GetConfiguration(
            configuration_key=[{"key": k, "readonly": False, "value": "300"} for k in keys]
        )

    @on(Action16.change_configuration)
    def change_configuration(self, **_):
        self.received.append("ChangeConfiguration")
        return result16.ChangeConfiguration(status="Accepted")

    @on(Action16.clear_cache)
    def clear_cache(self, **_):
        self.received.append("ClearCache")
        return result16.ClearCache(status="Accepted")

    @on(Action16.data_transfer)
    def data_transfer(self, message_id=None, **_):
        self.received.append("DataTransfer")
        if message_id == "stop":
            self.done.set()
        return result16.DataTransfer(status="Accepted")


class Responder201(ChargePoint201):
    """Answers every 2.0.1 command the CSMS sends."""

    def setup(self) -> None:
        self.received = []
        self.done = asyncio.Event()
        self.seq_no = 0

    def next_seq(self) -> int:
        self.seq_no += 1
        return self.seq_no

    @on(Action201.request_start_transaction)
    def request_start(self, id_token, remote_start_id, evse_id=None, **_):
        self.received.append("RequestStartTransaction")
        self.remote = (id_token, remote_start_id, evse_id or 1)
        return result201.RequestStartTransaction(status="Accepted", transaction_id="PY-TX-1")

    @after(Action201.request_start_transaction)
    async def transaction_started(self, **_):
        id_token, remote_start_id, evse_id = self.remote
        await self.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=now(),
                trigger_reason="RemoteStart",
                seq_no=self.next_seq(),
                transaction_info={
                    "transaction_id": "PY-TX-1",
                    "remote_start_id": remote_start_id,
                    "charging_state": "Charging",
                },
                evse={"id": evse_id, "connector_id": 1},
                id_token=id_token,
            ),
            suppress=False,
        )

    @on(Action201.request_stop_transaction)
    def request_stop(self, transaction_id, **_):
        self.received.append("RequestStopTransaction")
        status = "Accepted" if transaction_id == "PY-TX-1" else "Rejected"
        return result201.RequestStopTransaction(status=status)

    @after(Action201.request_stop_transaction)
    async def transaction_ended(self, **_):
        await self.call(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp=now(),
                trigger_reason="RemoteStop",
                seq_no=self.next_seq(),
                transaction_info={"transaction_id": "PY-TX-1", "stopped_reason": "Remote"},
            ),
            suppress=False,
        )

    @on(Action201.reset)
    def reset(self, **_):
        self.received.append("Reset")
        return result201.Reset(status="Accepted")

    @on(Action201.unlock_connector)
    def unlock(self, **_):
        self.received.append("UnlockConnector")
        return result201.UnlockConnector(status="Unlocked")

    @on(Action201.change_availability)
    def availability(self, **_):
        self.received.append("ChangeAvailability")
        return result201.ChangeAvailability(status="Accepted")

    @on(Action201.trigger_message)
    def trigger(self, **_):
        self.received.append("TriggerMessage")
        return result201.TriggerMessage(status="Accepted")

    @on(Action201.get_variables)
    def get_variables(self, get_variable_data, **_):
        self.received.append("GetVariables")
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": data["component"],
                    "variable": data["variable"],
                }
                for data in get_variable_data
            ]
        )

    @on(Action201.set_variables)
    def set_variables(self, set_variable_data, **_):
        self.received.append("SetVariables")
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "component": data["component"],
                    "variable": data["variable"],
                }
                for data in set_variable_data
            ]
        )

    @on(Action201.get_base_report)
    def get_base_report(self, **_):
        self.received.append("GetBaseReport")
        return result201.GetBaseReport(status="Accepted")

    @on(Action201.clear_cache)
    def clear_cache(self, **_):
        self.received.append("ClearCache")
        return result201.ClearCache(status="Accepted")

    @on(Action201.data_transfer)
    def data_transfer(self, vendor_id, message_id=None, **_):
        self.received.append("DataTransfer")
        if message_id == "stop":
            self.done.set()
        return result201.DataTransfer(status="Accepted")


async def run(url: str, version: str) -> dict:
    station_id = url.rstrip("/").rsplit("/", 1)[-1]
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with websockets.connect(url, subprotocols=[subprotocol], open_timeout=10) as ws:
        if version == "1.6":
            cp = Responder16(station_id, ws, response_timeout=10)
            boot = call16.BootNotification(
                charge_point_vendor="PyOCPP", charge_point_model="Responder-16"
            )
        else:
            cp = Responder201(station_id, ws, response_timeout=10)
            boot = call201.BootNotification(
                charging_station={"vendor_name": "PyOCPP", "model": "Responder-201"},
                reason="PowerUp",
            )
        cp.setup()
        reader = asyncio.create_task(cp.start())
        try:
            answer = await cp.call(boot, suppress=False)
            if answer.status != "Accepted":
                raise AssertionError(f"boot: {answer}")
            await cp.done.wait()
            # Let the answer to the final DataTransfer leave before closing.
            await asyncio.sleep(0.2)
        finally:
            reader.cancel()
    return {"station_id": station_id, "version": version, "received": cp.received}


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    summary = asyncio.run(asyncio.wait_for(run(sys.argv[1], sys.argv[2]), TIMEOUT_S))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
