"""The TALQ 2.7.1 gateway interface (docs/talq.md): a second northbound interface beside MQTT.

It translates what the lighting services, the devices and the clock already know into the
TALQ data model on each request, and never keeps a second copy of the lights' state.
"""
