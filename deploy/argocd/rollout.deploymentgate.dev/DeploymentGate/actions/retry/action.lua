-- kubectl gate retry: the same request annotation, "<revision>/<token>", for
-- the revision under test. The command admission policy decides who may.
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["rollout.deploymentgate.dev/retry"] = obj.status.revision .. "/" .. os.date("!%Y%m%dT%H%M%SZ")
return obj
