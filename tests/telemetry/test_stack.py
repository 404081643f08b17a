"""The observability stack in grafana/ fits together: every file the compose file mounts exists,
images are pinned, the collector's pipelines use only components it defines, Prometheus scrapes the
collector's exporter and loads the alert rules (promtool checks the config), and Grafana's data
sources and dashboard provider point at the services and the mounted folder. (No Docker engine runs
here: the stack itself is not started; tests/telemetry/test_prometheus.py runs a real Prometheus instead.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"


def _load(relative: str) -> Any:
    return yaml.safe_load((GRAFANA / relative).read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(_load("docker-compose.yml"))


def test_services_are_pinned_and_their_mounts_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"otel-collector", "prometheus", "jaeger", "grafana"}
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), (name, image)
        for volume in service.get("volumes", ()):
            source = volume.split(":")[0]
            assert (GRAFANA / source).exists(), (name, volume)
        for dependency in service.get("depends_on", ()):
            assert dependency in services, (name, dependency)


def test_collector_pipelines_use_defined_components(compose: dict[str, Any]) -> None:
    config = _load("collector/config.yaml")
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(kind, ())) <= set(config[kind]), (kind, pipeline)
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert config["exporters"]["prometheus"]["enable_open_metrics"] is True  # exemplars
    ports = compose["services"]["otel-collector"]["ports"]
    assert any(p.startswith("4318:") for p in ports) and any(p.startswith("4317:") for p in ports)


def test_prometheus_scrapes_the_collector_and_loads_the_rules(compose: dict[str, Any]) -> None:
    config = _load("prometheus/prometheus.yml")
    exporter_port = _load("collector/config.yaml")["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    targets = [t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    assert targets == [f"otel-collector:{exporter_port}"]
    assert config["rule_files"] == ["alerts.yml"]
    assert "--enable-feature=exemplar-storage" in compose["services"]["prometheus"]["command"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is not installed: the test command (scripts/test.sh) installs Debian's prometheus"
        )
    done = subprocess.run(
        [promtool, "check", "config", str(GRAFANA / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_provisions_both_data_sources_and_the_dashboards(compose: dict[str, Any]) -> None:
    sources = {s["uid"]: s for s in _load("provisioning/datasources/datasources.yml")["datasources"]}
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert sources["jaeger"]["url"] == "http://jaeger:16686"
    links = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert links == [{"name": "trace_id", "datasourceUid": "jaeger"}]
    (provider,) = _load("provisioning/dashboards/dashboards.yml")["providers"]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./dashboards:{provider['options']['path']}:ro" in mounts
    assert list((GRAFANA / "dashboards").glob("*.json"))
