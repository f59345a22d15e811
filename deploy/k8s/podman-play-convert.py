#!/usr/bin/env python3
"""Turns the rendered manifests of deploy/k8s into what `podman kube play` runs (a test aid, used
by podman-play.sh): podman runs Pods, Deployments and PersistentVolumeClaims but neither
StatefulSets nor Services, and gives pods no DNS names across pods. So each replica of a
StatefulSet or Deployment becomes a Pod of its own (flovyn-nats-0, flovyn-gateway-1, ...) with a
fixed address on a network of its own, and the names Services would give (flovyn-nats-0.flovyn-nats,
flovyn-gateway) are written into every pod's hosts file (hostAliases). ConfigMap values are put
into the environment directly, Secret volumes become host directories holding the Secret's files,
and a StatefulSet's volume claims become podman volumes. Probes, preStop hooks and grace periods
stay as written; what podman does not run it ignores.

usage: podman-play-convert.py RENDERED.yaml OUTDIR --subnet 10.89.7.0/24 --label VALUE
           [--volume-prefix PREFIX] [--publish WORKLOAD:PORTNAME=HOSTPORT ...]
Pods and volumes get the label io.flovyn-events/podman-play=VALUE; volumes are named
PREFIX + the claim's name.
Writes OUTDIR/NN-POD.yaml (one pod each, in start order), OUTDIR/plan (lines "FILE IP POD"),
OUTDIR/volumes (podman volume names) and OUTDIR/secrets/POD/VOLUME/* (the Secret files).
"""
import argparse
import base64
import copy
import ipaddress
import os
import sys

import yaml

# start order: NATS first, then what connects to it
ORDER = {"StatefulSet": 0, "Deployment": 1}
PLAY_LABEL = "io.flovyn-events/podman-play"


def fail(msg):
    sys.exit("podman-play-convert: " + msg)


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("outdir")
    ap.add_argument("--subnet", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--volume-prefix", default="")
    ap.add_argument("--publish", action="append", default=[])
    args = ap.parse_args()

    with open(args.rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d.get("data") or {} for d in by_kind.get("Secret", [])}
    services = by_kind.get("Service", [])

    publish = {}
    for p in args.publish:
        left, port = p.split("=")
        workload, portname = left.split(":")
        publish[workload] = (portname, int(port))

    # one pod per replica, addresses from .10 on
    hosts = list(ipaddress.ip_network(args.subnet).hosts())[9:]
    pods = []
    workloads = [d for d in docs if d["kind"] in ORDER]
    workloads.sort(key=lambda d: ORDER[d["kind"]])
    for w in workloads:
        name = w["metadata"]["name"]
        for i in range(w["spec"].get("replicas", 1)):
            pods.append({"workload": w, "name": f"{name}-{i}", "index": i, "ip": str(hosts[len(pods)])})

    # the names Services give: pod.headless-service for every pod, service -> its first pod
    aliases = {}
    for svc in services:
        sname = svc["metadata"]["name"]
        sel = svc["spec"].get("selector")
        members = [p for p in pods if selects(sel, p["workload"]["spec"]["template"]["metadata"].get("labels", {}))]
        if not members:
            continue
        if svc["spec"].get("clusterIP") == "None":
            for p in members:
                aliases.setdefault(p["ip"], []).append(f"{p['name']}.{sname}")
        aliases.setdefault(members[0]["ip"], []).append(sname)
    host_aliases = [{"ip": ip, "hostnames": names} for ip, names in aliases.items()]

    os.makedirs(args.outdir, exist_ok=True)
    plan, volumes = [], []
    for n, p in enumerate(pods):
        w, name = p["workload"], p["name"]
        spec = copy.deepcopy(w["spec"]["template"]["spec"])
        labels = dict(w["spec"]["template"]["metadata"].get("labels", {}))
        labels[PLAY_LABEL] = args.label
        spec["hostname"] = name
        spec["hostAliases"] = host_aliases
        pod_sc = spec.pop("securityContext", {}) or {}
        owner = (pod_sc.get("runAsUser", 0), pod_sc.get("fsGroup", pod_sc.get("runAsGroup", 0)))
        out_docs = []

        for c in spec["containers"]:
            # podman takes the user from the container's securityContext only
            sc = c.setdefault("securityContext", {})
            for k in ("runAsUser", "runAsGroup"):
                if k in pod_sc and k not in sc:
                    sc[k] = pod_sc[k]
            env = []
            for ef in c.pop("envFrom", []) or []:
                ref = ef.get("configMapRef")
                if not ref or ref["name"] not in configmaps:
                    fail(f"{name}: envFrom {ef} is not a ConfigMap of the manifests")
                env += [{"name": k, "value": str(v)} for k, v in configmaps[ref["name"]].items()]
            for e in c.get("env", []) or []:
                vf = e.get("valueFrom")
                if not vf:
                    env.append(e)
                elif "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    env.append({"name": e["name"], "value": str(configmaps[r["name"]][r["key"]])})
                elif vf.get("fieldRef", {}).get("fieldPath") == "metadata.name":
                    env.append({"name": e["name"], "value": name})
                else:
                    fail(f"{name}: env {e['name']} has an unsupported valueFrom")
            # a later entry wins, as in Kubernetes
            merged = {}
            for e in env:
                merged[e["name"]] = e
            c["env"] = list(merged.values())
            # podman publishes every containerPort on the host (on all addresses, the same
            # number) unless told otherwise: keep only the ports asked for, on 127.0.0.1, and
            # give the probes numbers instead of port names
            named = {port["name"]: port["containerPort"] for port in c.get("ports", []) if "name" in port}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                get = (c.get(probe) or {}).get("httpGet")
                if get and get.get("port") in named:
                    get["port"] = named[get["port"]]
            wp = publish.get(w["metadata"]["name"])
            ports = []
            for port in c.pop("ports", []) or []:
                if wp and port.get("name") == wp[0]:
                    ports.append({"containerPort": port["containerPort"],
                                  "hostPort": wp[1] + p["index"], "hostIP": "127.0.0.1"})
            if ports:
                c["ports"] = ports

        for v in spec.get("volumes", []) or []:
            if "secret" in v:
                s = v.pop("secret")
                data = secrets.get(s["secretName"])
                if not data:
                    fail(f"{name}: Secret {s['secretName']} is empty: fill it in an overlay")
                d = os.path.join(os.path.abspath(args.outdir), "secrets", name, v["name"])
                os.makedirs(d, exist_ok=True)
                items = s.get("items") or [{"key": k, "path": k} for k in data]
                for it in items:
                    if it["key"] not in data:
                        fail(f"{name}: Secret {s['secretName']} has no key {it['key']}")
                    f = os.path.join(d, it["path"])
                    with open(f, "wb") as fh:
                        fh.write(base64.b64decode(data[it["key"]]))
                    os.chmod(f, it.get("mode", s.get("defaultMode", 0o644)))
                    os.chown(f, *owner)
                v["hostPath"] = {"path": d, "type": "Directory"}
        for t in w["spec"].get("volumeClaimTemplates", []) or []:
            claim = f"{args.volume_prefix}{t['metadata']['name']}-{name}"
            out_docs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "metadata": {"name": claim, "labels": {PLAY_LABEL: args.label}},
                             "spec": t["spec"]})
            spec.setdefault("volumes", []).append(
                {"name": t["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}})
            volumes.append(claim)

        out_docs.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": name, "labels": labels}, "spec": spec})
        fname = os.path.join(args.outdir, f"{n:02d}-{name}.yaml")
        with open(fname, "w") as fh:
            yaml.safe_dump_all(out_docs, fh, sort_keys=False)
        plan.append(f"{fname} {p['ip']} {name}")

    with open(os.path.join(args.outdir, "plan"), "w") as fh:
        fh.write("\n".join(plan) + "\n")
    with open(os.path.join(args.outdir, "volumes"), "w") as fh:
        fh.write("".join(v + "\n" for v in volumes))


if __name__ == "__main__":
    main()
