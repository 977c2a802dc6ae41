-- Each station's configuration as it last reported it: 1.6 GetConfiguration keys, or 2.0.1
-- variables from NotifyReport / GetVariables named `Component[/instance].Variable[/instance]`.
-- Read once after boot and kept up to date by the configuration commands.

CREATE TABLE station_configuration (
    station_id TEXT    NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    key        TEXT    NOT NULL,
    value      TEXT,
    -- 0 or 1; NULL when the station did not say.
    readonly   INTEGER,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (station_id, key)
) STRICT;
