function schemaName(s) {
  if (!s) return "";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.type === "array") return schemaName(s.items) + "[]";
  return s.type || "object";
}
function render(doc, filter) {
  const groups = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const text = (path + " " + (op.summary || "") + " " + (op.description || "")).toLowerCase();
      if (filter && !text.includes(filter)) continue;
      const tag = (op.tags || ["other"])[0];
      (groups[tag] = groups[tag] || []).push({ path, method, op });
    }
  }
  const out = [];
  for (const [tag, ops] of Object.entries(groups)) {
    out.push(h("h2", {}, tag));
    for (const { path, method, op } of ops) {
      const params = (op.parameters || []).map(p =>
        h("tr", {}, h("td", {}, h("code", {}, p.name)), h("td", {}, p.in), h("td", {}, schemaName(p.schema)), h("td", {}, p.description || "")));
      const body = op.requestBody ? schemaName(op.requestBody.content["application/json"].schema) : "";
      const responses = Object.entries(op.responses || {}).map(([code, r]) => {
        const c = r.content && r.content["application/json"];
        return h("tr", {}, h("td", {}, code), h("td", {}, c ? schemaName(c.schema) : ""), h("td", {}, r.description || ""));
      });
      const schema = body && doc.components.schemas[body] ? h("pre", {}, JSON.stringify(doc.components.schemas[body], null, 2)) : "";
      out.push(h("details", {}, h("summary", {}, h("span", { class: `m ${method}` }, method), " ", h("code", {}, path), " ", op.summary || ""),
        h("div", { class: "body" }, op.description ? h("p", {}, op.description) : "",
          params.length ? [h("h4", {}, "Parameters"), h("table", {}, params)] : "",
          body ? [h("h4", {}, "Request body: ", h("code", {}, body)), schema] : "",
          h("h4", {}, "Responses"), h("table", {}, responses))));
    }
  }
  fill(document.getElementById("ops"), out.length ? out : "No operation matches.");
}
fetch("/openapi.json").then(r => r.json()).then(doc => {
  document.getElementById("desc").textContent = (doc.info.description || "") + " — version " + doc.info.version;
  render(doc, "");
  document.getElementById("filter").addEventListener("input", e => render(doc, e.target.value.toLowerCase()));
});
