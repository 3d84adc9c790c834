"""The built-in Bitrix24 portal emulator ("sandbox"): REST core, OAuth server, limits, events, install
flow. It follows bitrix24/REST-FACTS.md, not the app's convenience. Start it with `SandboxServer`."""
