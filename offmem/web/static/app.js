// offmem UI: live stream, actions with the install token, local times. No dependencies.
(function () {
  "use strict";

  var tokenMeta = document.querySelector('meta[name="offmem-token"]');
  var TOKEN = tokenMeta ? tokenMeta.content : "";
  var toast = document.getElementById("toast");

  function announce(message, isError) {
    if (!toast) return;
    toast.textContent = message;
    toast.classList.toggle("error", Boolean(isError));
    toast.classList.add("shown");
    window.clearTimeout(announce.timer);
    announce.timer = window.setTimeout(function () { toast.classList.remove("shown"); }, 6000);
  }

  function call(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "X-Offmem-Token": TOKEN, "Accept": "application/json" }
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) {
          var detail = data && data.detail ? data.detail : res.status + " " + res.statusText;
          throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
        }
        return data;
      });
    });
  }

  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.dateTime);
      if (isNaN(date.getTime())) return;
      el.title = el.dateTime;
      el.textContent = date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    });
  }

  // Buttons with data-action: forget a memory or a session.
  function setupActions() {
    document.querySelectorAll("button[data-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
        button.disabled = true;
        call(button.dataset.action, button.dataset.url).then(function (data) {
          announce("Forgotten." + (data && data.note ? " " + data.note : ""));
          if (button.dataset.done) window.setTimeout(function () { window.location.assign(button.dataset.done); }, 600);
        }).catch(function (err) {
          button.disabled = false;
          announce("Could not forget: " + err.message, true);
        });
      });
    });
  }

  function formValues(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      if (el.type === "checkbox") values[el.name] = el.checked;
      else if (el.dataset.kind === "lines") values[el.name] = el.value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
      else if (el.type === "number") values[el.name] = el.value === "" ? "" : Number(el.value);
      else values[el.name] = el.value;
    });
    return values;
  }

  function setupSettings() {
    var form = document.getElementById("settings-form");
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      call("POST", form.dataset.url, formValues(form)).then(function (data) {
        announce(data.note || "Saved.");
      }).catch(function (err) {
        announce("Not saved: " + err.message, true);
      }).then(function () { button.disabled = false; });
    });
  }

  // The live feed: server-sent events carry server-rendered items.
  function setupLive() {
    var feed = document.getElementById("feed");
    if (!feed || !feed.dataset.stream || !window.EventSource) return;
    var state = document.getElementById("stream-state");
    var depth = document.getElementById("queue-depth");
    var rate = document.getElementById("events-rate");
    var empty = document.getElementById("feed-empty");
    var counter = document.getElementById("new-count");
    var fresh = 0;
    var source = new EventSource(feed.dataset.stream);

    function insert(event) {
      var data = JSON.parse(event.data);
      var selector = '[data-key="' + (data.kind === "summary" ? "summary-" : "obs-") + CSS.escape(data.key) + '"]';
      var old = feed.querySelector(selector);
      if (old) old.remove();
      feed.insertAdjacentHTML("afterbegin", data.html);
      var item = feed.firstElementChild;
      item.classList.add("fresh");
      localizeTimes(item);
      if (empty) empty.hidden = true;
      fresh += 1;
      if (counter) counter.textContent = fresh + (fresh === 1 ? " new item" : " new items") + " since the page opened";
    }

    source.addEventListener("observation", insert);
    source.addEventListener("summary", insert);
    source.addEventListener("status", function (event) {
      var data = JSON.parse(event.data);
      if (depth) depth.textContent = data.queue_depth;
      if (rate) rate.textContent = data.events_per_min;
    });
    source.addEventListener("open", function () { if (state) state.textContent = "live"; });
    source.addEventListener("error", function () { if (state) state.textContent = "reconnecting…"; });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function start() {
    localizeTimes(document);
    setupActions();
    setupSettings();
    setupLive();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
