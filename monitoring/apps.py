"""App configuration of monitoring: its per-process state and its observers of the serving core, registered
here in one defined order (not by whichever module happens to be imported first)."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from monitoring import alerts, events, history, policies, prometheus, worker
        from serving import observers

        worker.register()
        prometheus.register()
        # Called in this order on each event. All of them only count, publish to in-memory queues or enqueue
        # a job for monitoring's worker (snapshots, alert evaluation, drift records, non-finite reports).
        for kind, observer in (
            ("predict", prometheus.on_predict),
            ("predict", events.on_predict),
            ("learn", prometheus.on_learn),
            ("learn", events.on_learn),
            ("learn", history.on_learn),
            ("learn", alerts.on_learn),
            ("learn", policies.on_learn),
            ("request", prometheus.on_request),
            ("drift", events.on_drift),
            ("non_finite", events.on_non_finite),
            ("backtest", events.on_backtest),
            ("training", events.on_training),
            ("deploy_task", events.on_deploy_task),
        ):
            observers.subscribe(kind, observer)
