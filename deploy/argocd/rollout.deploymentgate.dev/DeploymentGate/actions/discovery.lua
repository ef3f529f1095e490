-- The kubectl gate verbs, each enabled exactly when `kubectl gate` accepts it:
-- abort while a revision is in progress (or blocked by a freeze), retry once
-- it is rolled back or blocked, promote (--full) while it steps.
local status = obj.status or {}
local phase = status.phase
local underTest = status.revision ~= nil and status.revision ~= status.stableRevision
local inProgress = phase == "Verifying" or phase == "AwaitingApproval"
  or phase == "Progressing" or phase == "Promoting"
local actions = {}
actions["abort"] = {disabled = not (underTest and (inProgress or (phase == "Blocked" and status.frozen == true)))}
actions["retry"] = {disabled = not (underTest and (phase == "RolledBack" or phase == "Blocked"))}
actions["promote"] = {disabled = not (underTest and phase == "Progressing")}
actions["promote-full"] = {disabled = not (underTest and phase == "Progressing")}
return actions
