/* Social CDP console behaviour, set once for every page (issue 20.8, 20.9). No build step.
 *
 * - Every htmx 4xx answer is shown: a partial (a form with its errors) is swapped into its target, as the
 *   response-handling config in base.html says; a whole page (403/404/500) or an empty answer becomes a toast,
 *   never a silent nothing.
 * - Every htmx request shows a loading bar and disables the button that sent it while it is in flight.
 */
(function () {
  "use strict";

  function toast(message, level) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast toast-" + (level || "error");
    item.setAttribute("role", "alert");
    item.setAttribute("data-testid", "toast");
    item.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", box.dataset.close || "Close");
    close.textContent = "×";
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(close);
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 8000);
  }
  window.consoleToast = toast;

  function messageOf(xhr) {
    var text = xhr.responseText || "";
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("json") >= 0) {
      try {
        var data = JSON.parse(text);
        if (data.error && data.error.message) return data.error.message;
        if (data.detail) return data.detail;
      } catch (e) { /* not JSON after all: fall through to the generic message */ }
      return null;
    }
    if (/^\s*<!doctype|^\s*<html/i.test(text)) {
      var doc = new DOMParser().parseFromString(text, "text/html");
      var node = doc.querySelector("[data-error-message]");
      return node ? node.textContent.trim() : null;
    }
    return null;
  }

  function isWholePage(xhr) {
    var text = xhr.responseText || "";
    return /^\s*<!doctype|^\s*<html/i.test(text) || (xhr.getResponseHeader("Content-Type") || "").indexOf("json") >= 0;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status < 400) return;
    var box = document.getElementById("toasts");
    var generic = (box && box.dataset.failed) || "The request failed.";
    if (xhr.status >= 500 || isWholePage(xhr) || !(xhr.responseText || "").trim()) {
      event.detail.shouldSwap = false;
      toast(messageOf(xhr) || generic + " (" + xhr.status + ")");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    var box = document.getElementById("toasts");
    toast((box && box.dataset.offline) || "The server could not be reached.");
  });

  /* Loading: the bar at the top of the page while any request runs, and the sending button disabled. */
  var inFlight = 0;
  function isPolling(elt) {
    return /\bevery\b|\bload\b/.test(elt.getAttribute("hx-trigger") || "");
  }
  function buttonsOf(elt, event) {
    if (elt.matches("button, input[type=submit]")) return [elt];
    if (elt.tagName === "FORM") {
      var submitter = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent &&
        event.detail.requestConfig.triggeringEvent.submitter;
      if (submitter) return [submitter];
      return Array.prototype.slice.call(elt.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]"));
    }
    return [];
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (isPolling(elt)) return;
    var buttons = buttonsOf(elt, event).filter(function (b) { return !b.disabled; });
    buttons.forEach(function (b) { b.disabled = true; b.classList.add("is-busy"); b.setAttribute("aria-busy", "true"); });
    elt._busyButtons = buttons;
    inFlight += 1;
    document.body.classList.add("htmx-busy");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (isPolling(elt)) return;
    (elt._busyButtons || []).forEach(function (b) { b.disabled = false; b.classList.remove("is-busy"); b.removeAttribute("aria-busy"); });
    elt._busyButtons = null;
    inFlight = Math.max(0, inFlight - 1);
    if (!inFlight) document.body.classList.remove("htmx-busy");
  });
})();

/* The broadcast editor shows only the content fields that fit the chosen channel (issue 20.4): each content type
 * option names the channel kinds it can be sent on (data-kinds: WhatsApp modules and templates, WeChat template
 * messages only, the others modules); the type picker shows when there is a choice; templates are listed for
 * their own channel. */
(function () {
  "use strict";
  function channelOf(form) {
    var pack = form.querySelector("select[name=pack]");
    var chosen = pack && pack.selectedOptions[0];
    if (chosen && chosen.value) return { kind: chosen.dataset.kind, id: chosen.dataset.channel };
    var fixed = form.querySelector("[data-channel-fixed]");
    if (fixed) return { kind: fixed.dataset.kind, id: fixed.value };
    var select = form.querySelector("[data-channel-select]");
    var option = select && select.selectedOptions[0];
    return option ? { kind: option.dataset.kind, id: option.value } : { kind: "", id: "" };
  }
  function sync(form) {
    var channel = channelOf(form);
    var typeSelect = form.querySelector("[data-content-type]");
    if (typeSelect) {
      var offered = Array.prototype.filter.call(typeSelect.options, function (option) {
        option.hidden = option.dataset.kinds.split(" ").indexOf(channel.kind) < 0;
        return !option.hidden;
      });
      var field = form.querySelector("[data-content-type-field]");
      if (field) field.hidden = offered.length < 2;
      if (offered.length && typeSelect.selectedOptions[0].hidden) {
        typeSelect.value = offered[0].value;
        typeSelect.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
    var type = typeSelect ? typeSelect.value : "module";
    form.querySelectorAll("[data-show-kinds]").forEach(function (el) {
      el.hidden = el.dataset.showKinds.split(" ").indexOf(channel.kind) < 0;
    });
    form.querySelectorAll("[data-show-type]").forEach(function (el) { el.hidden = el.dataset.showType !== type; });
    form.querySelectorAll("select[name=template_id] option[data-channel]").forEach(function (option) {
      option.hidden = option.dataset.channel !== channel.id;
    });
  }
  function init(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-broadcast-form]").forEach(function (form) {
      if (form._synced) return;
      form._synced = true;
      form.addEventListener("change", function () { sync(form); });
      sync(form);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(document); });

  /* Modals (the send confirmation): a [data-close-modal] button or Escape empties the modal's slot. */
  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close-modal]");
    if (close) {
      var backdrop = close.closest(".modal-backdrop");
      if (backdrop) backdrop.remove();
    } else if (event.target.classList && event.target.classList.contains("modal-backdrop")) {
      event.target.remove();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") document.querySelectorAll(".modal-backdrop").forEach(function (el) { el.remove(); });
  });
})();

/* Live audience count (issue 20.6): a condition change marks the count (and a shown list) out of date at once and
 * fires "conditions-changed"; the .live-slot elements re-count after a pause (hx-trigger delay) and clear the mark. */
(function () {
  "use strict";
  function changed(form) {
    form.querySelectorAll(".live-slot").forEach(function (slot) {
      var result = slot.firstElementChild;
      if (result && result.id === "preview-result" && !result.querySelector("table")) return;
      if (result) result.classList.add("is-stale");
      var note = slot.querySelector("[data-stale-note]");
      if (note) note.hidden = false;
    });
    document.body.dispatchEvent(new CustomEvent("conditions-changed"));
  }
  function liveForm(el) { return el && el.closest && el.closest("[data-live-audience]"); }
  ["change", "input"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var form = liveForm(event.target);
      if (!form || event.target.name === "name") return;
      if (type === "input" && event.target.tagName === "SELECT") return;
      changed(form);
    });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.elt;
    if ((target && target.id === "builder") || (event.detail.target && event.detail.target.id === "builder")) {
      var form = liveForm(document.getElementById("builder"));
      if (form) changed(form);
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var slot = event.detail.elt;
    if (!slot.classList || !slot.classList.contains("live-slot")) return;
    var note = slot.querySelector("[data-stale-note]");
    if (note && event.detail.successful) note.hidden = true;
  });
})();

/* A searchable chip picker for multi-choice values (issue 20.7): enhances select[multiple][data-chips]. The native
 * select stays in the form (what is posted, and what tests drive); chips show the chosen values, a search box
 * lists the others. Every change goes through the select's own change event. */
(function () {
  "use strict";
  var words = function () {
    var box = document.getElementById("toasts");
    return { search: (box && box.dataset.chipSearch) || "Search…", none: (box && box.dataset.chipNone) || "No match",
             remove: (box && box.dataset.close) || "Remove" };
  };
  function enhance(select) {
    if (select._chips) return;
    var w = words();
    var wrap = document.createElement("div");
    wrap.className = "chips";
    wrap.setAttribute("data-testid", "chips-" + (select.name || ""));
    var list = document.createElement("span");
    list.className = "chip-list";
    var input = document.createElement("input");
    input.type = "search";
    input.className = "chip-search";
    input.placeholder = w.search;
    input.setAttribute("aria-label", (select.getAttribute("aria-label") || "") + " " + w.search);
    var menu = document.createElement("div");
    menu.className = "chip-menu";
    menu.hidden = true;
    wrap.append(list, input, menu);
    select.classList.add("chip-native");
    select.after(wrap);
    select._chips = wrap;

    function choose(option, on) {
      option.selected = on;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
    function render() {
      list.innerHTML = "";
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.selected) return;
        var chip = document.createElement("span");
        chip.className = "chip";
        chip.textContent = option.textContent;
        var x = document.createElement("button");
        x.type = "button";
        x.textContent = "×";
        x.setAttribute("aria-label", w.remove + " " + option.textContent);
        x.addEventListener("click", function () { choose(option, false); });
        chip.appendChild(x);
        list.appendChild(chip);
      });
    }
    function openMenu() {
      var q = input.value.trim().toLowerCase();
      menu.innerHTML = "";
      var shown = 0;
      Array.prototype.forEach.call(select.options, function (option) {
        if (option.selected || (q && option.textContent.toLowerCase().indexOf(q) < 0)) return;
        var item = document.createElement("button");
        item.type = "button";
        item.className = "chip-option";
        item.textContent = option.textContent;
        item.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(option, true);
          input.value = "";
          openMenu();
        });
        menu.appendChild(item);
        shown += 1;
      });
      if (!shown) {
        var empty = document.createElement("div");
        empty.className = "chip-empty muted";
        empty.textContent = w.none;
        menu.appendChild(empty);
      }
      menu.hidden = false;
    }
    input.addEventListener("focus", openMenu);
    input.addEventListener("input", openMenu);
    input.addEventListener("blur", function () { menu.hidden = true; });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        var first = menu.querySelector(".chip-option");
        if (first) first.dispatchEvent(new MouseEvent("mousedown"));
      } else if (event.key === "Backspace" && !input.value) {
        var chosen = Array.prototype.filter.call(select.options, function (o) { return o.selected; });
        if (chosen.length) choose(chosen[chosen.length - 1], false);
      }
    });
    select.addEventListener("change", render);
    render();
  }
  function scan(root) {
    (root && root.querySelectorAll ? root : document).querySelectorAll("select[multiple][data-chips]").forEach(enhance);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (event) { scan(event.detail.elt); });
})();

/* The drawer (issue 20.15): clicking the backdrop or Escape closes it; on a page with a publish bar it opens below
 * the bar, so publishing is never covered. */
(function () {
  "use strict";
  function drawers() { return Array.prototype.filter.call(document.querySelectorAll(".drawer"), function (d) { return d.innerHTML.trim(); }); }
  document.addEventListener("click", function (event) {
    if (event.target === document.body || event.target === document.documentElement) {
      drawers().forEach(function (d) { d.innerHTML = ""; });
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") drawers().forEach(function (d) { d.innerHTML = ""; });
  });
  document.addEventListener("htmx:afterSwap", function () {
    var bar = document.querySelector(".toolbar:has([data-testid=publish])");
    drawers().forEach(function (d) {
      d.style.top = bar ? Math.max(0, bar.getBoundingClientRect().bottom) + "px" : "";
    });
  });
})();
