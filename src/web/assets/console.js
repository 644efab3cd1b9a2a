// warroom's web console: live timelines and forms sent in the background. Plain JavaScript,
// no framework; every text from the server is set with textContent, and timeline lines are
// HTML the server rendered and escaped.
"use strict";

(function () {
  const timeline = document.getElementById("timeline");
  const end = document.getElementById("end");

  function messageLines(id) {
    return Array.from(document.querySelectorAll(".k-message")).filter(
      (line) => line.dataset.message === id
    );
  }

  // An edit or a delete marks the message it is about.
  function markFrom(line) {
    const id = line.dataset.message;
    if (id === undefined) return;
    if (line.classList.contains("k-delete")) {
      messageLines(id).forEach((m) => m.classList.add("deleted"));
    } else if (line.classList.contains("k-edit")) {
      messageLines(id).forEach((m) => m.classList.add("edited"));
    }
  }

  // Lines that change the incident's state block: fetched again, at most every half second.
  const STATE_KINDS = ["k-opened", "k-severity", "k-role", "k-ack", "k-resolved", "k-closed", "k-reopened", "k-mitigated"];
  let stateDue = null;
  function refreshStateFor(line) {
    if (!STATE_KINDS.some((k) => line.classList.contains(k)) || stateDue) return;
    stateDue = setTimeout(async () => {
      stateDue = null;
      const holder = document.getElementById("state");
      if (!holder || !timeline) return;
      try {
        const answer = await fetch("/incidents/" + encodeURIComponent(timeline.dataset.incident) + "/state", {
          credentials: "same-origin",
        });
        if (!answer.ok) return;
        const parsed = document.createElement("template");
        parsed.innerHTML = await answer.text();
        const fresh = parsed.content.getElementById("state");
        if (fresh) holder.replaceWith(fresh);
      } catch (_) {
        // The next state line tries again.
      }
    }, 500);
  }

  function follow() {
    if (!timeline || !end) return;
    const incident = timeline.dataset.incident;
    const after = end.dataset.version || "0";
    const source = new EventSource(
      "/incidents/" + encodeURIComponent(incident) + "/live?after=" + encodeURIComponent(after)
    );
    source.addEventListener("lines", (event) => {
      const holder = document.createElement("template");
      holder.innerHTML = event.data;
      for (const line of Array.from(holder.content.children)) {
        if (line.tagName !== "LI" || document.getElementById(line.id)) continue;
        timeline.appendChild(line);
        markFrom(line);
        refreshStateFor(line);
        wireForms(line);
      }
      end.dataset.version = event.lastEventId;
    });
    source.addEventListener("open", () => document.body.classList.add("live"));
    source.addEventListener("error", () => document.body.classList.remove("live"));
  }

  function nonce() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
      b.toString(16).padStart(2, "0")
    ).join("");
  }

  function showReply(ok, reply, actions) {
    const box = document.getElementById("reply");
    if (!box) return;
    box.replaceChildren();
    const text = document.createElement("pre");
    text.className = ok ? "said ok" : "said refused";
    text.textContent = reply;
    box.appendChild(text);
    const token = end ? end.dataset.token : null;
    const incident = timeline ? timeline.dataset.incident : null;
    (actions || []).forEach((a) => {
      if (!token || !incident) return;
      const form = document.createElement("form");
      form.className = "act";
      form.setAttribute("method", "post");
      form.setAttribute("action", "/incidents/" + encodeURIComponent(incident) + "/act");
      [["csrf", token], ["nonce", ""], ["action", "command"], ["command", a.command]].forEach(
        ([name, value]) => {
          const input = document.createElement("input");
          input.type = "hidden";
          input.name = name;
          input.value = value;
          form.appendChild(input);
        }
      );
      const button = document.createElement("button");
      button.type = "submit";
      button.textContent = a.label;
      form.appendChild(button);
      wireForm(form);
      box.appendChild(form);
    });
  }

  async function send(form, event) {
    event.preventDefault();
    const nonceField = form.querySelector("input[name=nonce]");
    if (nonceField) nonceField.value = nonce();
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      // The attribute, not `form.action`: the forms have a field named "action".
      const answer = await fetch(form.getAttribute("action"), {
        method: "POST",
        headers: { Accept: "application/json" },
        body: new URLSearchParams(new FormData(form)),
        credentials: "same-origin",
      });
      let said;
      try {
        said = await answer.json();
      } catch (_) {
        said = { ok: false, reply: "The server answered " + answer.status + "; reload the page." };
      }
      showReply(answer.ok && said.ok, said.reply, said.actions);
      if (answer.ok) {
        form.querySelectorAll("textarea, input[type=text]").forEach((f) => (f.value = ""));
        const runButtons = form.closest(".run-buttons");
        if (runButtons) runButtons.remove();
      }
    } catch (_) {
      showReply(false, "The server could not be reached; nothing was sent. Try again.", []);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function wireForm(form) {
    form.addEventListener("submit", (event) => send(form, event));
  }

  function wireForms(root) {
    root.querySelectorAll("form.act").forEach(wireForm);
  }

  document.querySelectorAll(".k-edit, .k-delete").forEach(markFrom);
  wireForms(document);
  follow();
})();
