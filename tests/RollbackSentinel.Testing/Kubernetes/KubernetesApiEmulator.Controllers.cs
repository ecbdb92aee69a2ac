using System.Globalization;
using System.Text.Json.Nodes;

namespace RollbackSentinel.Testing.Kubernetes;

/// <summary>The emulator's state, its controllers, and what tests seed and read.</summary>
public sealed partial class KubernetesApiEmulator
{
    public const string RevisionAnnotation = "deployment.kubernetes.io/revision";

    /// <summary>On a ReplicaSet the deployment controller re-used (an undo): the revision numbers it had before, comma-separated.</summary>
    public const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";

    /// <summary>
    /// The <c>creationTimestamp</c> given to objects created from now on (workloads, and the ReplicaSets and
    /// ControllerRevisions their controllers make): set it before a <see cref="SetImage"/> to date a new revision.
    /// </summary>
    public DateTimeOffset CreationTime { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private string CreatedAt => CreationTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Adds a Deployment (label <c>app=NAME</c>) rolled out once per image, in order: image i is revision i+1, with its
    /// ReplicaSet, and the Deployment runs the last one.
    /// </summary>
    public JsonObject AddDeployment(string ns, string name, IReadOnlyList<string> imageHistory, int replicas = 3) =>
        AddWorkload("deployments", ns, name, imageHistory, replicas);

    /// <summary>Adds a StatefulSet (RollingUpdate) with one ControllerRevision per image, running the last one.</summary>
    public JsonObject AddStatefulSet(string ns, string name, IReadOnlyList<string> imageHistory, int replicas = 3) =>
        AddWorkload("statefulsets", ns, name, imageHistory, replicas);

    /// <summary>Adds a DaemonSet (RollingUpdate) with one ControllerRevision per image, running the last one.</summary>
    public JsonObject AddDaemonSet(string ns, string name, IReadOnlyList<string> imageHistory) =>
        AddWorkload("daemonsets", ns, name, imageHistory, 3);

    /// <summary>Adds an Argo Rollout in phase Progressing (canary), aborted or not.</summary>
    public JsonObject AddRollout(string ns, string name, string image, bool aborted = false)
    {
        var rollout = new JsonObject
        {
            ["apiVersion"] = "argoproj.io/v1alpha1",
            ["kind"] = "Rollout",
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["labels"] = new JsonObject { ["app"] = name } },
            ["spec"] = new JsonObject
            {
                ["replicas"] = 3,
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
                ["template"] = Template(name, image),
                ["strategy"] = new JsonObject { ["canary"] = new JsonObject { ["steps"] = new JsonArray(new JsonObject { ["setWeight"] = 20 }) } },
            },
            ["status"] = new JsonObject { ["phase"] = aborted ? "Degraded" : "Progressing", ["currentStepIndex"] = 0 },
        };
        if (aborted)
        {
            EmulatorJson.Obj(rollout, "status")["abort"] = true;
        }

        lock (_gate)
        {
            return EmulatorJson.Clone(Store(EmulatedResource.Find("argoproj.io", "v1alpha1", "rollouts")!, rollout, null));
        }
    }

    /// <summary>Changes the first container's image of a workload, as a CD system would (its controller reacts).</summary>
    public void SetImage(string plural, string ns, string name, string image)
    {
        lock (_gate)
        {
            var current = _objects[Key(plural, ns, name)];
            var changed = EmulatorJson.Clone(current);
            var container = (JsonObject)changed["spec"]!["template"]!["spec"]!["containers"]![0]!;
            container["image"] = image;
            Store(TypeOf(plural), changed, current);
        }
    }

    /// <summary>Replaces an object's annotations entirely (as <c>kubectl annotate</c> would, but without a request).</summary>
    public void SetAnnotation(string plural, string ns, string name, string key, string? value)
    {
        lock (_gate)
        {
            var current = _objects[Key(plural, ns, name)];
            var changed = EmulatorJson.Clone(current);
            var annotations = EmulatorJson.Ensure(changed, "metadata", "annotations");
            if (value is null)
            {
                annotations.Remove(key);
            }
            else
            {
                annotations[key] = value;
            }

            Store(TypeOf(plural), changed, current);
        }
    }

    /// <summary>
    /// While true, writes are stored but the controllers do not react yet: the lag between an API write (an undo's
    /// PATCH) and the controller's sync, in which a Deployment already has its old template back but the ReplicaSet
    /// still carries its old revision number. <see cref="ResumeControllers"/> lets them catch up.
    /// </summary>
    public bool ControllersPaused { get; private set; }

    /// <summary>Stops the controllers from reacting to writes until <see cref="ResumeControllers"/>.</summary>
    public void PauseControllers()
    {
        lock (_gate)
        {
            ControllersPaused = true;
        }
    }

    /// <summary>Lets the controllers run again, and catch up with every workload now.</summary>
    public void ResumeControllers()
    {
        lock (_gate)
        {
            ControllersPaused = false;
            ReconcileAll();
        }
    }

    /// <summary>Lets rollouts finish from now on, and updates every workload's status (watchers see it).</summary>
    public void CompleteRollouts()
    {
        RolloutsComplete = true;
        lock (_gate)
        {
            ReconcileAll();
        }
    }

    /// <summary>A copy of an object, or null.</summary>
    public JsonObject? Get(string plural, string ns, string name)
    {
        lock (_gate)
        {
            return _objects.TryGetValue(Key(plural, ns, name), out var o) ? EmulatorJson.Clone(o) : null;
        }
    }

    /// <summary>Copies of all objects of a type in a namespace, by name.</summary>
    public IReadOnlyList<JsonObject> List(string plural, string ns)
    {
        lock (_gate)
        {
            return [.. _objects.Where(kv => kv.Key.StartsWith(Key(plural, ns, ""), StringComparison.Ordinal)).Select(kv => EmulatorJson.Clone(kv.Value))];
        }
    }

    /// <summary>The first container's image of a workload's pod template.</summary>
    public string? Image(string plural, string ns, string name) =>
        EmulatorJson.Str(Get(plural, ns, name)?["spec"]?["template"]?["spec"]?["containers"]?[0], "image");

    /// <summary>Revision number by image, from the ReplicaSets of a Deployment (or ControllerRevisions of a StatefulSet/DaemonSet).</summary>
    public IReadOnlyDictionary<string, long> RevisionsByImage(string plural, string ns, string name)
    {
        var owner = Get(plural, ns, name) ?? throw new InvalidOperationException($"no {plural}/{name}");
        var uid = EmulatorJson.Str(owner, "metadata", "uid");
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        if (plural == "deployments")
        {
            foreach (var rs in List("replicasets", ns).Where(o => OwnedBy(o, uid)))
            {
                result[EmulatorJson.Str(rs["spec"]?["template"]?["spec"]?["containers"]?[0], "image")!] =
                    long.Parse(EmulatorJson.Str(rs, "metadata", "annotations", RevisionAnnotation)!, CultureInfo.InvariantCulture);
            }
        }
        else
        {
            foreach (var cr in List("controllerrevisions", ns).Where(o => OwnedBy(o, uid)))
            {
                result[EmulatorJson.Str(cr["data"]?["spec"]?["template"]?["spec"]?["containers"]?[0], "image")!] = EmulatorJson.Long(cr, "revision");
            }
        }

        return result;
    }

    private static EmulatedResource TypeOf(string plural) => EmulatedResource.All.First(r => r.Plural == plural);

    private JsonObject AddWorkload(string plural, string ns, string name, IReadOnlyList<string> imageHistory, int replicas)
    {
        ArgumentOutOfRangeException.ThrowIfZero(imageHistory.Count);
        var type = TypeOf(plural);
        var spec = new JsonObject
        {
            ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = name } },
            ["template"] = Template(name, imageHistory[0]),
        };
        switch (plural)
        {
            case "deployments":
                spec["replicas"] = replicas;
                spec["strategy"] = new JsonObject { ["type"] = "RollingUpdate", ["rollingUpdate"] = new JsonObject { ["maxSurge"] = "25%", ["maxUnavailable"] = "25%" } };
                spec["revisionHistoryLimit"] = 10;
                spec["progressDeadlineSeconds"] = 600;
                break;
            case "statefulsets":
                spec["replicas"] = replicas;
                spec["serviceName"] = name;
                spec["updateStrategy"] = new JsonObject { ["type"] = "RollingUpdate" };
                spec["revisionHistoryLimit"] = 10;
                break;
            default:
                spec["updateStrategy"] = new JsonObject { ["type"] = "RollingUpdate", ["rollingUpdate"] = new JsonObject { ["maxUnavailable"] = 1 } };
                spec["revisionHistoryLimit"] = 10;
                break;
        }

        var workload = new JsonObject
        {
            ["apiVersion"] = type.ApiVersion,
            ["kind"] = type.Kind,
            ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns, ["labels"] = new JsonObject { ["app"] = name } },
            ["spec"] = spec,
        };
        lock (_gate)
        {
            Store(type, workload, null);
        }

        foreach (var image in imageHistory.Skip(1))
        {
            SetImage(plural, ns, name, image);
        }

        return Get(plural, ns, name)!;
    }

    private static JsonObject Template(string app, string image) => new()
    {
        ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = app } },
        ["spec"] = new JsonObject
        {
            ["containers"] = new JsonArray(new JsonObject
            {
                ["name"] = app,
                ["image"] = image,
                ["ports"] = new JsonArray(new JsonObject { ["containerPort"] = 8080, ["protocol"] = "TCP" }),
                ["imagePullPolicy"] = "IfNotPresent",
                ["terminationMessagePath"] = "/dev/termination-log",
                ["terminationMessagePolicy"] = "File",
            }),
            ["restartPolicy"] = "Always",
            ["terminationGracePeriodSeconds"] = 30,
            ["dnsPolicy"] = "ClusterFirst",
            ["schedulerName"] = "default-scheduler",
        },
    };

    /// <summary>Saves an object written through the API (or seeded), then lets its controller react. Holds the gate.</summary>
    private JsonObject Store(EmulatedResource type, JsonObject value, JsonObject? previous)
    {
        var meta = EmulatorJson.Ensure(value, "metadata");
        if (previous is null)
        {
            meta["uid"] = $"00000000-0000-4000-8000-{++_uid:D12}";
            meta["creationTimestamp"] = CreatedAt;
            meta["generation"] = 1;
        }
        else
        {
            var specChanged = !JsonNode.DeepEquals(EmulatorJson.Canonical(previous["spec"]), EmulatorJson.Canonical(value["spec"]));
            meta["generation"] = EmulatorJson.Long(previous, "metadata", "generation") + (specChanged ? 1 : 0);
        }

        if (value["spec"]?["template"] is JsonObject template)
        {
            // A typed API server drops what is null or empty.
            value["spec"]!["template"] = EmulatorJson.Canonical(template);
        }

        Save(type.Plural, value);
        if (!ControllersPaused)
        {
            Reconcile(type.Plural, value);
        }

        return _objects[Key(type.Plural, EmulatorJson.Str(value, "metadata", "namespace")!, EmulatorJson.Str(value, "metadata", "name")!)];
    }

    private void Save(string plural, JsonObject value)
    {
        var meta = EmulatorJson.Ensure(value, "metadata");
        meta["resourceVersion"] = (++_resourceVersion).ToString(CultureInfo.InvariantCulture);
        var ns = EmulatorJson.Str(value, "metadata", "namespace")!;
        _objects[Key(plural, ns, EmulatorJson.Str(value, "metadata", "name")!)] = value;
        foreach (var watcher in _watchers.Where(w => w.Plural == plural && w.Namespace == ns
                     && Selects(w.LabelSelector, value["metadata"]?["labels"] as JsonObject) && FieldSelects(w.FieldSelector, value)))
        {
            watcher.Events.Writer.TryWrite(EmulatorJson.Clone(value));
        }
    }

    private void ReconcileAll()
    {
        if (ControllersPaused)
        {
            return;
        }

        foreach (var (key, value) in _objects.ToList())
        {
            var plural = key.Split('/')[0];
            if (plural is "deployments" or "statefulsets" or "daemonsets")
            {
                Reconcile(plural, value);
            }
        }
    }

    private void Reconcile(string plural, JsonObject workload)
    {
        switch (plural)
        {
            case "deployments":
                ReconcileDeployment(workload);
                break;
            case "statefulsets" or "daemonsets":
                ReconcileWithHistory(plural, workload);
                break;
            default:
                break;
        }
    }

    private static bool OwnedBy(JsonObject o, string? uid) =>
        o["metadata"]?["ownerReferences"] is JsonArray refs && refs.Any(r => EmulatorJson.Str(r, "uid") == uid && r?["controller"]?.GetValue<bool>() == true);

    private static JsonArray OwnerReferences(JsonObject owner) => new(new JsonObject
    {
        ["apiVersion"] = EmulatorJson.Str(owner, "apiVersion"),
        ["kind"] = EmulatorJson.Str(owner, "kind"),
        ["name"] = EmulatorJson.Str(owner, "metadata", "name"),
        ["uid"] = EmulatorJson.Str(owner, "metadata", "uid"),
        ["controller"] = true,
        ["blockOwnerDeletion"] = true,
    });

    private static long RsRevision(JsonObject rs) =>
        long.TryParse(EmulatorJson.Str(rs, "metadata", "annotations", RevisionAnnotation), CultureInfo.InvariantCulture, out var r) ? r : 0;

    private static JsonObject WithLabel(JsonNode? labels, string key, string value)
    {
        var result = labels is JsonObject o ? EmulatorJson.Clone(o) : [];
        result[key] = value;
        return result;
    }

    /// <summary>The deployment controller: the ReplicaSet of the current template (new, or an old one with its revision bumped), replicas, status.</summary>
    private void ReconcileDeployment(JsonObject deployment)
    {
        var ns = EmulatorJson.Str(deployment, "metadata", "namespace")!;
        var name = EmulatorJson.Str(deployment, "metadata", "name")!;
        var uid = EmulatorJson.Str(deployment, "metadata", "uid");
        var template = deployment["spec"]?["template"];
        var owned = _objects.Where(kv => kv.Key.StartsWith(Key("replicasets", ns, ""), StringComparison.Ordinal)).Select(kv => kv.Value).Where(rs => OwnedBy(rs, uid)).ToList();
        var match = owned.FirstOrDefault(rs => EmulatorJson.SameTemplate(rs["spec"]?["template"], template));
        var maxOld = owned.Where(rs => rs != match).Select(RsRevision).DefaultIfEmpty(0).Max();
        var replicas = deployment["spec"]?["replicas"] is null ? 1 : EmulatorJson.Long(deployment, "spec", "replicas");
        var ready = RolloutsComplete ? replicas : 0;
        if (match is null)
        {
            var hash = EmulatorJson.Hash(EmulatorJson.Normalize(template));
            var rsTemplate = EmulatorJson.Normalize(template);
            EmulatorJson.Ensure(rsTemplate, "metadata")["labels"] = WithLabel(rsTemplate["metadata"]?["labels"], "pod-template-hash", hash);
            match = new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "ReplicaSet",
                ["metadata"] = new JsonObject
                {
                    ["name"] = $"{name}-{hash}",
                    ["namespace"] = ns,
                    ["uid"] = $"00000000-0000-4000-8000-{++_uid:D12}",
                    ["creationTimestamp"] = CreatedAt,
                    ["generation"] = 1,
                    ["labels"] = WithLabel(template?["metadata"]?["labels"], "pod-template-hash", hash),
                    ["annotations"] = new JsonObject { [RevisionAnnotation] = (maxOld + 1).ToString(CultureInfo.InvariantCulture) },
                    ["ownerReferences"] = OwnerReferences(deployment),
                },
                ["spec"] = new JsonObject
                {
                    ["replicas"] = replicas,
                    ["selector"] = new JsonObject { ["matchLabels"] = WithLabel(deployment["spec"]?["selector"]?["matchLabels"], "pod-template-hash", hash) },
                    ["template"] = rsTemplate,
                },
            };
            owned.Add(match);
        }
        else if (RsRevision(match) <= maxOld)
        {
            // What Kubernetes does on undo: the old ReplicaSet becomes the newest revision, and its old number is
            // appended to its revision-history annotation (SetNewReplicaSetAnnotations in the deployment controller).
            var annotations = EmulatorJson.Ensure(match, "metadata", "annotations");
            var previous = RsRevision(match).ToString(CultureInfo.InvariantCulture);
            var history = EmulatorJson.Str(annotations, RevisionHistoryAnnotation);
            annotations[RevisionHistoryAnnotation] = string.IsNullOrEmpty(history) ? previous : $"{history},{previous}";
            annotations[RevisionAnnotation] = (maxOld + 1).ToString(CultureInfo.InvariantCulture);
        }

        foreach (var rs in owned)
        {
            var want = rs == match ? replicas : 0;
            rs["spec"]!["replicas"] = want;
            rs["status"] = new JsonObject
            {
                ["replicas"] = want,
                ["readyReplicas"] = rs == match ? ready : 0,
                ["availableReplicas"] = rs == match ? ready : 0,
                ["observedGeneration"] = EmulatorJson.Long(rs, "metadata", "generation"),
            };
            Save("replicasets", rs);
        }

        EmulatorJson.Ensure(deployment, "metadata", "annotations")[RevisionAnnotation] = RsRevision(match).ToString(CultureInfo.InvariantCulture);
        deployment["status"] = new JsonObject
        {
            ["observedGeneration"] = EmulatorJson.Long(deployment, "metadata", "generation"),
            ["replicas"] = replicas,
            ["updatedReplicas"] = ready,
            ["readyReplicas"] = ready,
            ["availableReplicas"] = ready,
            ["unavailableReplicas"] = replicas - ready,
            ["conditions"] = new JsonArray(
                new JsonObject { ["type"] = "Available", ["status"] = RolloutsComplete ? "True" : "False", ["reason"] = RolloutsComplete ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable" },
                new JsonObject
                {
                    ["type"] = "Progressing", ["status"] = "True",
                    ["reason"] = RolloutsComplete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                    ["message"] = $"ReplicaSet \"{EmulatorJson.Str(match, "metadata", "name")}\" is progressing.",
                }),
        };
        Save("deployments", deployment);
    }

    /// <summary>The StatefulSet and DaemonSet controllers: the ControllerRevision of the current template (new, or an old one bumped), status.</summary>
    private void ReconcileWithHistory(string plural, JsonObject workload)
    {
        var ns = EmulatorJson.Str(workload, "metadata", "namespace")!;
        var name = EmulatorJson.Str(workload, "metadata", "name")!;
        var uid = EmulatorJson.Str(workload, "metadata", "uid");
        var template = workload["spec"]?["template"];
        var owned = _objects.Where(kv => kv.Key.StartsWith(Key("controllerrevisions", ns, ""), StringComparison.Ordinal)).Select(kv => kv.Value).Where(cr => OwnedBy(cr, uid)).ToList();
        var match = owned.FirstOrDefault(cr => EmulatorJson.SameTemplate(cr["data"]?["spec"]?["template"], template));
        var maxOld = owned.Where(cr => cr != match).Select(cr => EmulatorJson.Long(cr, "revision")).DefaultIfEmpty(0).Max();
        if (match is null)
        {
            var hash = EmulatorJson.Hash(EmulatorJson.Normalize(template));
            var stored = EmulatorJson.Normalize(template);
            stored["$patch"] = "replace";
            match = new JsonObject
            {
                ["apiVersion"] = "apps/v1",
                ["kind"] = "ControllerRevision",
                ["metadata"] = new JsonObject
                {
                    ["name"] = $"{name}-{hash}",
                    ["namespace"] = ns,
                    ["uid"] = $"00000000-0000-4000-8000-{++_uid:D12}",
                    ["creationTimestamp"] = CreatedAt,
                    ["labels"] = WithLabel(workload["spec"]?["selector"]?["matchLabels"], "controller-revision-hash", hash),
                    ["ownerReferences"] = OwnerReferences(workload),
                },
                ["data"] = new JsonObject { ["spec"] = new JsonObject { ["template"] = stored } },
                ["revision"] = maxOld + 1,
            };
            Save("controllerrevisions", match);
        }
        else if (EmulatorJson.Long(match, "revision") <= maxOld)
        {
            match["revision"] = maxOld + 1;
            Save("controllerrevisions", match);
        }

        var revisionName = EmulatorJson.Str(match, "metadata", "name");
        var generation = EmulatorJson.Long(workload, "metadata", "generation");
        if (plural == "statefulsets")
        {
            var replicas = workload["spec"]?["replicas"] is null ? 1 : EmulatorJson.Long(workload, "spec", "replicas");
            var ready = RolloutsComplete ? replicas : 0;
            var previousCurrent = EmulatorJson.Str(workload, "status", "currentRevision");
            workload["status"] = new JsonObject
            {
                ["observedGeneration"] = generation,
                ["replicas"] = replicas,
                ["readyReplicas"] = ready,
                ["availableReplicas"] = ready,
                ["currentReplicas"] = ready,
                ["updatedReplicas"] = ready,
                ["currentRevision"] = RolloutsComplete || previousCurrent is null ? revisionName : previousCurrent,
                ["updateRevision"] = revisionName,
                ["collisionCount"] = 0,
            };
        }
        else
        {
            const long desired = 3;
            var ready = RolloutsComplete ? desired : 0;
            workload["status"] = new JsonObject
            {
                ["observedGeneration"] = generation,
                ["desiredNumberScheduled"] = desired,
                ["currentNumberScheduled"] = desired,
                ["updatedNumberScheduled"] = ready,
                ["numberReady"] = ready,
                ["numberAvailable"] = ready,
                ["numberMisscheduled"] = 0,
            };
        }

        Save(plural, workload);
    }
}
