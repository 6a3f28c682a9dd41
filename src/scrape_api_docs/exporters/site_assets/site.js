/* scrape-api-docs site script: the search box over assets/search-index.js (loaded on first
   use) and the sidebar scrolled to the current page. Pages allow scripts from the site's own
   files only, so everything lives here; results are built with textContent, never HTML. */
(function () {
  "use strict";
  var sidebar = document.querySelector(".sidebar");
  var current = document.querySelector('.sidebar [aria-current="page"]');
  if (sidebar && current) sidebar.scrollTop = current.offsetTop - sidebar.clientHeight / 2;

  var box = document.getElementById("search");
  var input = document.getElementById("search-input");
  var list = document.getElementById("search-results");
  if (!box || !input || !list) return;
  box.hidden = false;
  var pages = null;
  var requested = false;
  var active = -1;

  function load() {
    if (pages || requested) return;
    requested = true;
    var script = document.createElement("script");
    script.src = box.getAttribute("data-index");
    script.onload = function () {
      pages = window.SEARCH_INDEX.pages.map(function (p, i) {
        var headings = p[3].map(function (h) {
          return typeof h === "string" ? [h, p[2] + "--" + slug(h)] : [h[0], p[2] + "--" + h[1]];
        });
        return { title: p[0], href: p[1], headings: headings, summary: p[4], order: i,
          t: p[0].toLowerCase(), s: p[4].toLowerCase(), terms: " " + p[5] + " ",
          // An explicit id is searched too: an API entry's is its qualified name.
          h: p[3].map(function (h) {
            return (typeof h === "string" ? h : h[0] + " " + h[1]).toLowerCase();
          }) };
      });
      run();
    };
    script.onerror = function () { requested = false; };
    document.head.appendChild(script);
  }

  function slug(text) {
    return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "section";
  }

  function score(page, tokens) {
    var total = 0;
    for (var i = 0; i < tokens.length; i++) {
      var tok = tokens[i], s = 0, at = page.t.indexOf(tok);
      if (at === 0) s += 12; else if (at > 0) s += 8;
      for (var j = 0; j < page.h.length; j++) {
        if (page.h[j].indexOf(tok) >= 0) { s += 4; break; }
      }
      if (page.terms.indexOf(" " + tok) >= 0) s += 2;
      else if (page.terms.indexOf(tok) >= 0) s += 1;
      if (page.s.indexOf(tok) >= 0) s += 1;
      if (!s) return 0;
      total += s;
    }
    return total;
  }

  function bestHeading(page, tokens) {
    var best = -1, most = 0;
    if (tokens.every(function (tok) { return page.t.indexOf(tok) >= 0; })) return best;
    for (var j = 0; j < page.h.length; j++) {
      var n = tokens.filter(function (tok) { return page.h[j].indexOf(tok) >= 0; }).length;
      if (n > most) { best = j; most = n; }
    }
    return best;
  }

  function item(page, tokens) {
    var heading = bestHeading(page, tokens);
    var link = document.createElement("a");
    var hash = heading < 0 ? "" : "#" + encodeURIComponent(page.headings[heading][1]);
    link.href = page.href + hash;
    var title = document.createElement("span");
    title.className = "result-title";
    title.textContent = page.title;
    var detail = document.createElement("span");
    detail.className = "result-detail";
    detail.textContent = heading < 0 ? page.summary : page.headings[heading][0];
    link.appendChild(title);
    link.appendChild(detail);
    var li = document.createElement("li");
    li.appendChild(link);
    return li;
  }

  function run() {
    var query = input.value.trim().toLowerCase();
    active = -1;
    list.textContent = "";
    if (!query) { list.hidden = true; return; }
    if (!pages) { load(); return; }
    var tokens = query.split(/\s+/);
    var found = [];
    pages.forEach(function (page) {
      var s = score(page, tokens);
      if (s) found.push({ page: page, score: s });
    });
    found.sort(function (a, b) { return b.score - a.score || a.page.order - b.page.order; });
    found.slice(0, 20).forEach(function (r) { list.appendChild(item(r.page, tokens)); });
    if (!found.length) {
      var none = document.createElement("li");
      none.className = "empty";
      none.textContent = "No pages match.";
      list.appendChild(none);
    }
    list.hidden = false;
  }

  function move(step) {
    var links = list.querySelectorAll("a");
    if (!links.length) return;
    if (active >= 0) links[active].classList.remove("active");
    active = (active + step + links.length) % links.length;
    links[active].classList.add("active");
    links[active].scrollIntoView({ block: "nearest" });
  }

  input.addEventListener("focus", function () { load(); if (input.value.trim()) run(); });
  input.addEventListener("input", run);
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      move(event.key === "ArrowDown" ? 1 : -1);
    } else if (event.key === "Enter") {
      var links = list.querySelectorAll("a");
      var target = links[active >= 0 ? active : 0];
      if (target) window.location.href = target.href;
    } else if (event.key === "Escape") {
      input.value = "";
      run();
      input.blur();
    }
  });
  document.addEventListener("keydown", function (event) {
    var tag = event.target.tagName;
    if (event.key === "/" && tag !== "INPUT" && tag !== "TEXTAREA" &&
        !event.target.isContentEditable) {
      event.preventDefault();
      input.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (!box.contains(event.target)) list.hidden = true;
  });
})();
