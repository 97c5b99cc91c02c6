# microlearn station, the device application (MicroPython and CPython). See docs/station.md.
#
#   core.py     Station: the sensor loop, window features, model predictions, the stores
#   sensors.py  the driver interface and simulated sources
#   web.py      the Microdot app: UI, JSON API, model upload, login, CSRF
#   outbox.py   webhooks and MQTT, a bounded queue delivered by one asyncio task
#   mqtt.py     an asyncio MQTT 3.1.1 publisher (umqtt.simple's calls)
#   main.py     the entry point on a board
