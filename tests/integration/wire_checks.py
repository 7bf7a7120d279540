"""wire_checks.py - end-to-end checks that need a real gRPC client speaking
the public API from the .proto files (as an upstream client would): watch
ordering, validation over the wire, label selectors and pagination.

Usage: /usr/bin/python3 wire_checks.py SRCDIR WORKDIR GATEWAY_SOCKET CHECK
Generates the Python message classes into WORKDIR with protoc (never
committed). Exits non-zero with a message when the check fails."""
import os
import subprocess
import sys
import time

src, work, sock, check = sys.argv[1:5]
gen = os.path.join(work, "py")
os.makedirs(gen, exist_ok=True)
subprocess.check_call(["protoc", "-I" + os.path.join(src, "proto"), "-I/usr/include",
                       "--python_out=" + gen, "openshell.proto", "datamodel.proto"])
sys.path.insert(0, gen)
import grpc  # noqa: E402
import openshell_pb2 as pb  # noqa: E402

ch = grpc.insecure_channel("unix:" + sock)
def PHASE(v):
    return pb.SandboxPhase.Name(v).replace("SANDBOX_PHASE_", "")



def call(method, req, resp_type):
    f = ch.unary_unary("/openshell.v1.OpenShell/" + method)
    return resp_type.FromString(f(req.SerializeToString(), timeout=30))


def expect_error(code, needle, method, req, resp_type=pb.SandboxResponse):
    try:
        call(method, req, resp_type)
    except grpc.RpcError as e:
        if e.code() != code or needle not in e.details():
            sys.exit("%s: got %s %r, wanted %s containing %r" % (method, e.code(), e.details(), code, needle))
        return
    sys.exit("%s: accepted %s" % (method, req))


def create(name, **kw):
    spec = pb.SandboxSpec(command=kw.pop("command", ["sleep", "1000"]))
    return call("CreateSandbox", pb.CreateSandboxRequest(name=name, spec=spec, **kw), pb.SandboxResponse).sandbox


def watch(sid, **kw):
    f = ch.unary_stream("/openshell.v1.OpenShell/WatchSandbox")
    return f(pb.WatchSandboxRequest(id=sid, **kw).SerializeToString(), timeout=30)


def wait_phase(name, phase, ws="", secs=10):
    end = time.time() + secs
    while time.time() < end:
        sb = call("GetSandbox", pb.GetSandboxRequest(name=name, workspace=ws), pb.SandboxResponse).sandbox
        if PHASE(sb.status.phase) == phase:
            return sb
        time.sleep(0.05)
    sys.exit("%s never reached %s (last %s)" % (name, phase, PHASE(sb.status.phase)))


if check == "watch":
    # Snapshot first, then the buffered platform event, then live updates
    # in the order they happened; stop_on_terminal ends the stream at READY.
    sb = create("watched")
    events = []
    for raw in watch(sb.metadata.id, follow_status=True, follow_events=True, event_tail=10,
                     stop_on_terminal=True):
        ev = pb.SandboxStreamEvent.FromString(raw)
        kind = ev.WhichOneof("payload")
        events.append(PHASE(ev.sandbox.status.phase) if kind == "sandbox" else "event:" + ev.event.reason)
    if events[0] != "PROVISIONING" or "event:Scheduled" not in events or events[-1] != "READY":
        sys.exit("unexpected watch sequence %s" % events)
    if events.index("event:Scheduled") > events.index("READY"):
        sys.exit("platform event after READY: %s" % events)
    # Live: stop and start while watching, every transition in order.
    seen = []
    stream = watch(sb.metadata.id, follow_status=True)
    first = pb.SandboxStreamEvent.FromString(next(stream))
    seen.append(PHASE(first.sandbox.status.phase))
    call("StopSandbox", pb.StopSandboxRequest(name="watched"), pb.SandboxResponse)
    call("StartSandbox", pb.StartSandboxRequest(name="watched"), pb.SandboxResponse)
    versions = [first.sandbox.metadata.resource_version]
    for raw in stream:
        ev = pb.SandboxStreamEvent.FromString(raw)
        if ev.WhichOneof("payload") == "sandbox":
            seen.append(PHASE(ev.sandbox.status.phase))
            versions.append(ev.sandbox.metadata.resource_version)
            if seen[-1] == "READY" and "STARTING" in seen:
                stream.cancel()
                break
    want = ["READY", "STOPPING", "STOPPED", "STARTING", "READY"]
    if [p for i, p in enumerate(seen) if i == 0 or p != seen[i - 1]] != want:
        sys.exit("live sequence %s, wanted %s" % (seen, want))
    if versions != sorted(versions) or len(set(versions)) != len(versions):
        sys.exit("resource versions not increasing: %s" % versions)
    expect_error(grpc.StatusCode.NOT_FOUND, "sandbox not found", "GetSandbox", pb.GetSandboxRequest(name="nope"))
    try:
        list(watch("no-such-id"))
        sys.exit("watch of a missing id succeeded")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.NOT_FOUND:
            sys.exit("watch missing id: %s" % e.code())
    try:
        list(watch(""))
        sys.exit("watch without id succeeded")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.INVALID_ARGUMENT or "id is required" not in e.details():
            sys.exit("watch without id: %s %s" % (e.code(), e.details()))

elif check == "validation":
    IA, FP = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    C = "CreateSandbox"
    R = pb.CreateSandboxRequest
    S = pb.SandboxSpec
    expect_error(IA, "spec is required", C, R(name="a"))
    expect_error(IA, "name", C, R(name="Bad_Name", spec=S(command=["x"])))
    expect_error(IA, "name", C, R(name="a" * 20, spec=S(command=["x"])))
    expect_error(IA, "name", C, R(name="a--b", spec=S(command=["x"])))
    expect_error(IA, "name", C, R(name="-ab", spec=S(command=["x"])))
    expect_error(IA, "workspace", C, R(name="ok", workspace="Bad WS", spec=S(command=["x"])))
    expect_error(IA, "OPENSHELL_", C, R(name="ok", spec=S(command=["x"], environment={"OPENSHELL_X": "1"})))
    expect_error(IA, "1BAD", C, R(name="ok", spec=S(command=["x"], environment={"1BAD": "1"})))
    expect_error(IA, "environment", C, R(name="ok", spec=S(command=["x"], environment={"A": "x\ny"})))
    expect_error(IA, "command", C, R(name="ok", spec=S(command=["", "x"])))
    expect_error(IA, "command", C, R(name="ok", spec=S(command=["x"] * 257)))
    expect_error(IA, "NUL", C, R(name="ok", spec=S(command=["a\x00b"])))
    expect_error(IA, "label", C, R(name="ok", spec=S(command=["x"]), labels={"-bad": "v"}))
    expect_error(IA, "label", C, R(name="ok", spec=S(command=["x"]), labels={"k": "v" * 64}))
    expect_error(IA, "annotation", C, R(name="ok", spec=S(command=["x"]), annotations={"k": "v" * 8193}))
    expect_error(IA, "image", C, R(name="ok", spec=S(command=["x"], template=pb.SandboxTemplate(image="i" * 1025))))
    expect_error(IA, "gpu count must be greater than 0", C, R(name="ok", spec=S(command=["x"], resource_requirements=pb.ResourceRequirements(gpu=pb.GpuResourceRequirements(count=0)))))
    expect_error(FP, "providers are not supported", C, R(name="ok", spec=S(command=["x"], providers=["p"])))
    expect_error(FP, "not found", C, R(name="ok", spec=S(command=["x"], template=pb.SandboxTemplate(image="missing/x"))))
    expect_error(IA, "name is required", "StopSandbox", pb.StopSandboxRequest())
    expect_error(IA, "mutually exclusive", "ListSandboxes", pb.ListSandboxesRequest(all_workspaces=True, workspace="w"), pb.ListSandboxesResponse)
    expect_error(IA, "=", "ListSandboxes", pb.ListSandboxesRequest(label_selector="novalue"), pb.ListSandboxesResponse)
    # Nothing refused was stored.
    got = call("ListSandboxes", pb.ListSandboxesRequest(all_workspaces=True, limit=1000), pb.ListSandboxesResponse)
    if any(s.metadata.name == "ok" for s in got.sandboxes):
        sys.exit("a refused sandbox was stored")
    # Duplicates: same workspace refused, other workspace fine; a generated name.
    create("dup")
    expect_error(grpc.StatusCode.ALREADY_EXISTS, "sandbox 'dup' already exists", C, R(name="dup", spec=S(command=["x"])))
    other = create("dup", workspace="team-b")
    if other.metadata.workspace != "team-b":
        sys.exit("workspace not kept: %s" % other.metadata)
    gen_sb = create("")
    if not gen_sb.metadata.name or len(gen_sb.metadata.name) > 19:
        sys.exit("generated name %r" % gen_sb.metadata.name)
    # The default image comes from the driver's capabilities; unknown fields survive.
    if gen_sb.spec.template.image != "test/default:latest":
        sys.exit("default image not applied: %r" % gen_sb.spec.template.image)
    req = R(name="policy", spec=S(command=["x"]))
    raw = req.SerializeToString()
    # SandboxSpec field 7 (policy) is not in our .proto: append it to spec (field 1).
    spec_raw = req.spec.SerializeToString() + b"\x3a\x03\x0a\x01z"
    raw = b"\x0a" + bytes([len(spec_raw)]) + spec_raw + b"\x12\x06policy"
    out = ch.unary_unary("/openshell.v1.OpenShell/GetSandbox")
    ch.unary_unary("/openshell.v1.OpenShell/CreateSandbox")(raw, timeout=10)
    back = out(pb.GetSandboxRequest(name="policy").SerializeToString(), timeout=10)
    if b"\x3a\x03\x0a\x01z" not in back:
        sys.exit("opaque policy bytes were not kept")

elif check == "many":
    # 1,000 sandboxes across labels; pages and selectors see each exactly once.
    n = 1000
    for i in range(n):
        create("s%04d" % i, labels={"team": "a" if i % 2 else "b", "tier": str(i % 5)})
    seen = []
    off = 0
    while True:
        page = call("ListSandboxes", pb.ListSandboxesRequest(limit=137, offset=off), pb.ListSandboxesResponse).sandboxes
        if not page:
            break
        seen += [s.metadata.name for s in page]
        off += len(page)
    want = ["s%04d" % i for i in range(n)]
    if sorted(seen) != want or len(seen) != n:
        sys.exit("paging saw %d names (%d unique)" % (len(seen), len(set(seen))))
    default = call("ListSandboxes", pb.ListSandboxesRequest(), pb.ListSandboxesResponse).sandboxes
    if len(default) != 100:
        sys.exit("limit 0 should give 100, gave %d" % len(default))
    big = call("ListSandboxes", pb.ListSandboxesRequest(limit=5000), pb.ListSandboxesResponse).sandboxes
    if len(big) != 1000:
        sys.exit("limit is capped at 1000, gave %d" % len(big))
    a = call("ListSandboxes", pb.ListSandboxesRequest(limit=1000, label_selector="team=a"), pb.ListSandboxesResponse).sandboxes
    if len(a) != 500 or any(s.metadata.labels["team"] != "a" for s in a):
        sys.exit("selector team=a gave %d" % len(a))
    a3 = call("ListSandboxes", pb.ListSandboxesRequest(limit=1000, label_selector="team=a, tier=3"), pb.ListSandboxesResponse).sandboxes
    want3 = [i for i in range(n) if i % 2 and i % 5 == 3]
    if sorted(s.metadata.name for s in a3) != ["s%04d" % i for i in want3]:
        sys.exit("selector team=a,tier=3 gave %d, wanted %d" % (len(a3), len(want3)))
    none = call("ListSandboxes", pb.ListSandboxesRequest(label_selector="team=c"), pb.ListSandboxesResponse).sandboxes
    if none:
        sys.exit("selector team=c matched %d" % len(none))
    other_ws = call("ListSandboxes", pb.ListSandboxesRequest(workspace="elsewhere"), pb.ListSandboxesResponse).sandboxes
    if other_ws:
        sys.exit("workspace filter leaked %d" % len(other_ws))
else:
    sys.exit("unknown check " + check)
print("wire check %s: ok" % check)
