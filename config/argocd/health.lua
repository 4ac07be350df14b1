-- Argo CD health check for indexbuild.dev/IndexBuild.
-- Install it as resource.customizations.health.indexbuild.dev_IndexBuild in
-- the argocd-cm ConfigMap (see argocd-cm-patch.yaml beside this file).
hs = {}
if obj.status == nil or obj.status.observedGeneration == nil
    or obj.metadata.generation == nil
    or obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the IndexBuild operator to observe the current spec"
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    conditions[c.type] = c
  end
end

local function isTrue(t)
  return conditions[t] ~= nil and conditions[t].status == "True"
end

local function message(t, fallback)
  if conditions[t] ~= nil and conditions[t].message ~= nil and conditions[t].message ~= "" then
    return conditions[t].message
  end
  return fallback
end

if isTrue("Stalled") or obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = (conditions["Stalled"] and conditions["Stalled"].reason or "Failed") .. ": " .. message("Stalled", "build failed")
elseif isTrue("Ready") then
  hs.status = "Healthy"
  hs.message = message("Ready", "index committed")
elseif isTrue("Suspended") then
  hs.status = "Suspended"
  hs.message = message("Suspended", "spec.suspend is true")
else
  hs.status = "Progressing"
  local phase = obj.status.phase or "Pending"
  local progress = obj.status.progress or ""
  hs.message = phase .. " " .. progress
end
return hs
