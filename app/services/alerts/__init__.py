"""Performance alerts: rules over the metrics, evaluated on a schedule, told to webhooks."""
