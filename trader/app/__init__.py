"""The composition root (`root.App`) and the assemblies it composes: `records` (database,
event log, control state), `trading` (venue, execution core, signals, reports), `liveness`
(heartbeat, health, metrics, HTTP), `jobs` (the scheduler's table) and `chat` (Control API,
notifier, commands, transports). Assemblies never import each other (an import contract)."""
