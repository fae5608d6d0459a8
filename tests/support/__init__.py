"""What the tests share: running the CLI (clirun), videos and their oracle decode
(media), test servers (servers), datasets crafted by hand (crafting), wrapper stores
that fail or count (stores, faultfs), crash and fuzz workers (crash, fuzz_worker), and
small helpers (helpers). Imported as ``support.<module>``; nothing here imports a test."""
