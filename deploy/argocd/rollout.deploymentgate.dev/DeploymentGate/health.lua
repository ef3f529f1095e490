-- Argo CD health of a DeploymentGate, from the phase the operator writes.
-- Healthy: the stable (Idle) or new (Promoted) revision serves, verified.
-- Progressing: a revision is being adopted, verified, stepped or promoted.
-- Suspended: waiting for sign-offs. Degraded: rolled back, blocked, invalid.
local hs = {status = "Progressing", message = "Waiting for the operator to adopt the gate"}
local status = obj.status
if status == nil or status.phase == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to read spec generation " .. tostring(generation)
  return hs
end
local health = {
  Idle = "Healthy",
  Promoted = "Healthy",
  Initializing = "Progressing",
  Verifying = "Progressing",
  Progressing = "Progressing",
  Promoting = "Progressing",
  AwaitingApproval = "Suspended",
  RolledBack = "Degraded",
  Blocked = "Degraded",
  Invalid = "Degraded",
}
hs.status = health[status.phase] or "Unknown"
if status.message ~= nil and status.message ~= "" then
  hs.message = status.phase .. ": " .. status.message
else
  hs.message = status.phase
end
return hs
