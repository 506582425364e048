-- Queries over the tables `lanterne read|capture --clickhouse` fills
-- (`lanterne clickhouse schema`). They read with FINAL: a batch a sensor sent
-- twice (a retry after a lost acknowledgement) counts once, before and after
-- ClickHouse merges its parts. Hosts are internal hosts (as shown: address,
-- subnet or pseudonym); `internal = 1` keeps the flows the summaries count.
-- The database is `lanterne`: replace `lanterne.` if yours is another.
-- Each query follows a `-- name:` line. They run on ClickHouse 18.16 (Debian
-- 12) and later.

-- name: fleet_services
-- Every AI service over the whole fleet: hosts, flows, bytes sent and received.
SELECT
    service,
    any(vendor) AS vendor,
    uniqExact(sensor, client) AS hosts,
    count() AS flows,
    sum(bytes_up) AS bytes_up,
    sum(bytes_down) AS bytes_down
FROM lanterne.flows FINAL
WHERE internal = 1
GROUP BY service
ORDER BY bytes_up DESC, service;

-- name: services_per_day_and_sensor
-- The same per day (of the flow's start, UTC) and sensor.
SELECT
    toDate(ts_start) AS day,
    sensor,
    service,
    uniqExact(client) AS hosts,
    count() AS flows,
    sum(bytes_up) AS bytes_up,
    sum(bytes_down) AS bytes_down
FROM lanterne.flows FINAL
WHERE internal = 1
GROUP BY day, sensor, service
ORDER BY day, sensor, bytes_up DESC, service;

-- name: top_hosts_by_upload
-- The hosts that sent the most to AI services, per service.
SELECT
    sensor,
    host,
    service,
    sum(flows) AS flows,
    sum(bytes_up) AS bytes_up,
    sum(bytes_down) AS bytes_down
FROM lanterne.host_service_minutes FINAL
GROUP BY sensor, host, service
ORDER BY bytes_up DESC, sensor, host, service
LIMIT 100;

-- name: new_services_this_week
-- Services first seen since Monday (UTC), by any sensor.
SELECT
    service,
    min(ts_start) AS first_seen,
    uniqExact(sensor, client) AS hosts,
    count() AS flows
FROM lanterne.flows FINAL
WHERE internal = 1
GROUP BY service
HAVING toDate(first_seen) >= toMonday(today())
ORDER BY first_seen, service;

-- name: upload_per_minute
-- Bytes sent per minute (of the flows' ends) and service, last 24 hours: a
-- time series for Grafana.
SELECT
    minute,
    service,
    sum(bytes_up) AS bytes_up
FROM lanterne.host_service_minutes FINAL
WHERE minute >= now() - 86400
GROUP BY minute, service
ORDER BY minute, service;
