// Building the page from data, with text nodes only: whatever a field holds (a name with
// <img onerror=…>, say) is shown as text and never parsed as markup. Every page loads this first.
//
//   h("td", { class: "muted", "data-id": 7 }, "text", otherNode, ["more", "children"])
//   svg("rect", { x: 0, y: 0, width: 10, height: 5 })
//   fill(parent, ...children)   // replace parent's children

function append(el, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) { child.forEach((c) => append(el, c)); return; }
  el.append(child instanceof Node ? child : document.createTextNode(String(child)));
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") { el.addEventListener(k.slice(2), v); continue; }
    el.setAttribute(k, v === true ? "" : String(v));
  }
}

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function fill(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}
