# Start the station on a board: `import station.main` from boot/main.py (microlearn deploy --station
# writes one). Wi-Fi must be up; the board answers as <name>.local by mDNS where the port supports it.
import asyncio

from . import core, outbox, sensors, web

DATA = "/data"


def start(sensor=None, port=80, static_dir="/lib/station/static", roots=None):
    # a board's file system holds a few MB: records (and their levels) within 1 MB by default
    st = core.Station(DATA, sensor or sensors.SimAccelerometer(), {"raw_max_bytes": 1_000_000})
    try:
        import network

        network.hostname(st.settings["name"])  # mDNS: http://<name>.local/
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    print("station", st.settings["name"], "token", st.settings["token"])
    ob = outbox.Outbox(st)
    app = web.make_app(
        st, static_dir, roots or {"studio": "/studio", "mp": "/studio/mp", "mlrt": "/lib/mlrt"}, ob
    )

    async def main():
        asyncio.create_task(st.run())
        asyncio.create_task(ob.run())
        await app.start_server(port=port)

    asyncio.run(main())
