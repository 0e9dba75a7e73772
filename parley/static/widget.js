/* Parley website widget: <script src="https://parley.example/widget.js" data-website-token="…" async></script>
   Dependency-free. Talks GraphQL over HTTP and graphql-transport-ws; resumes its event stream by cursor. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-website-token]");
  if (!script || window.ParleyWidget) return;
  var websiteToken = script.getAttribute("data-website-token");
  var base = new URL(script.src, location.href).origin;
  var KEY = "parley_widget_" + websiteToken;
  var store = load();
  var state = { config: null, conversation: store.conversation || null, messages: [], ids: {}, open: false,
                unread: 0, ws: null, cursor: store.cursor || null, retry: 0, typingTimer: null, sentTyping: 0 };

  function load() { try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; } }
  function save() {
    store.conversation = state.conversation; store.cursor = state.cursor;
    try { localStorage.setItem(KEY, JSON.stringify(store)); } catch (e) { /* storage full or blocked */ }
  }

  function gql(query, variables) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (store.token) headers.Authorization = "Bearer " + store.token;
    return fetch(base + "/graphql", { method: "POST", headers: headers, credentials: "omit",
      body: JSON.stringify({ query: query, variables: variables || {} }) })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.errors && body.errors.length) throw body.errors[0];
        return body.data;
      });
  }

  var MSG = "id conversationId content messageType fromContact senderName createdAt deleted";

  // --- DOM -------------------------------------------------------------------------------------------
  var host = document.createElement("div");
  host.id = "parley-widget";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  var css = el("style");
  css.textContent =
    ":host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif}" +
    ".bubble{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;" +
    "background:var(--c);color:#fff;display:flex;align-items:center;justify-content:center;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646}" +
    ".badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;border-radius:10px;background:#e11d48;" +
    "color:#fff;font-size:12px;line-height:20px;text-align:center;padding:0 5px}.badge[hidden]{display:none}" +
    ".panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 40px);height:520px;" +
    "max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;border-radius:12px;" +
    "box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;z-index:2147483647}.panel[hidden]{display:none}" +
    ".head{background:var(--c);color:#fff;padding:14px 16px}.head h2{margin:0;font-size:17px}" +
    ".head p{margin:4px 0 0;font-size:13px;opacity:.9}.list{flex:1;overflow-y:auto;padding:12px;background:#f7f7f9}" +
    ".msg{max-width:80%;margin:6px 0;padding:8px 11px;border-radius:12px;font-size:14px;line-height:1.35;" +
    "white-space:pre-wrap;word-wrap:break-word}.in{margin-left:auto;background:var(--c);color:#fff}" +
    ".out{background:#fff;color:#111;border:1px solid #e5e7eb}.who{display:block;font-size:11px;color:#6b7280;margin-bottom:2px}" +
    ".typing{font-size:12px;color:#6b7280;padding:0 14px 6px;min-height:18px;background:#f7f7f9}" +
    "form{display:flex;border-top:1px solid #e5e7eb}textarea{flex:1;border:0;padding:12px;font-size:14px;resize:none;height:48px;outline:none}" +
    "button.send{border:0;background:transparent;color:var(--c);font-weight:600;padding:0 16px;cursor:pointer}";
  // An inline SVG, not an emoji: pages without an emoji font would show a blank box.
  var bubble = el("button", "bubble");
  bubble.setAttribute("aria-label", "Chat with us");
  var SVG = "http://www.w3.org/2000/svg", icon = document.createElementNS(SVG, "svg"), path = document.createElementNS(SVG, "path");
  icon.setAttribute("viewBox", "0 0 24 24"); icon.setAttribute("width", "28"); icon.setAttribute("height", "28");
  icon.setAttribute("aria-hidden", "true"); icon.setAttribute("class", "icon");
  path.setAttribute("fill", "currentColor"); path.setAttribute("fill-rule", "evenodd");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 " +
    "0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z");
  icon.appendChild(path);
  bubble.appendChild(icon);
  var badge = el("span", "badge", "0");
  badge.hidden = true;
  bubble.appendChild(badge);
  var panel = el("div", "panel");
  panel.hidden = true;
  var head = el("div", "head"), title = el("h2", null, "Chat"), tagline = el("p"), status = el("p");
  head.appendChild(title); head.appendChild(tagline); head.appendChild(status);
  var list = el("div", "list"), typing = el("div", "typing");
  var form = el("form"), input = el("textarea"), send = el("button", "send", "Send");
  input.placeholder = "Type your message…";
  input.setAttribute("aria-label", "Message");
  send.type = "submit";
  form.appendChild(input); form.appendChild(send);
  panel.appendChild(head); panel.appendChild(list); panel.appendChild(typing); panel.appendChild(form);
  root.appendChild(css); root.appendChild(panel); root.appendChild(bubble);

  function setUnread(n) { state.unread = n; badge.textContent = String(n); badge.hidden = n === 0; }
  function toggle(open) {
    state.open = open === undefined ? !state.open : open;
    panel.hidden = !state.open;
    if (state.open) { setUnread(0); input.focus(); list.scrollTop = list.scrollHeight; }
  }
  bubble.addEventListener("click", function () { toggle(); });

  function render(m) {
    if (state.ids[m.id]) return false;
    state.ids[m.id] = true;
    state.messages.push(m);
    var div = el("div", "msg " + (m.fromContact ? "in" : "out"));
    div.setAttribute("data-id", m.id);
    if (!m.fromContact && m.senderName) div.appendChild(el("span", "who", m.senderName));
    div.appendChild(document.createTextNode(m.content));
    list.appendChild(div);
    list.scrollTop = list.scrollHeight;
    if (!m.fromContact && !state.open) setUnread(state.unread + 1);
    return true;
  }

  // --- sending -------------------------------------------------------------------------------------
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    input.value = "";
    setTyping(false);
    gql("mutation($i: WidgetMessageCreateInput!){widgetMessageCreate(input:$i){message{" + MSG + "} conversation{id status} errors{field code message}}}",
      { i: { conversationId: state.conversation, content: text } })
      .then(function (d) {
        var p = d.widgetMessageCreate;
        if (p.errors.length) { input.value = text; status.textContent = p.errors[0].message; return; }
        if (state.conversation !== p.conversation.id) { state.conversation = p.conversation.id; save(); }
        render(p.message);
      })
      .catch(function (e) { input.value = text; status.textContent = (e && e.message) || "Could not send"; });
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit ? form.requestSubmit() : send.click(); }
  });
  input.addEventListener("input", function () { setTyping(!!input.value); });
  function setTyping(on) {
    if (!state.conversation) return;
    var now = Date.now();
    if (on && now - state.sentTyping < 3000) return;
    state.sentTyping = on ? now : 0;
    gql("mutation($i: WidgetTypingSetInput!){widgetTypingSet(input:$i){accepted}}",
      { i: { conversationId: state.conversation, on: on } }).catch(function () {});
  }

  // --- history -------------------------------------------------------------------------------------
  function lastMessageCursor() { return store.lastMessage || null; }
  function fetchMessages(after) {
    if (!state.conversation) return Promise.resolve();
    return gql("query($c: ID!, $a: String){widgetMessages(conversationId:$c, first:100, after:$a){edges{cursor node{" + MSG + "}} pageInfo{hasNextPage}}}",
      { c: state.conversation, a: after || null })
      .then(function (d) {
        var edges = d.widgetMessages.edges;
        edges.forEach(function (e) { render(e.node); store.lastMessage = e.cursor; });
        save();
        if (after && d.widgetMessages.pageInfo.hasNextPage) return fetchMessages(store.lastMessage);
      });
  }

  // --- the event stream (graphql-transport-ws) -------------------------------------------------------
  var SUB = "subscription($a: String){widgetEvents(after:$a){cursor type conversation{id status} message{" + MSG + "} typing{conversationId on agentName}}}";
  function connect() {
    var url = base.replace(/^http/, "ws") + "/graphql";
    var ws = new WebSocket(url, "graphql-transport-ws");
    ws.binaryType = "arraybuffer";
    state.ws = ws;
    ws.onopen = function () { ws.send(JSON.stringify({ type: "connection_init", payload: { token: store.token } })); };
    ws.onmessage = function (ev) {
      var msg = JSON.parse(typeof ev.data === "string" ? ev.data : new TextDecoder().decode(ev.data));
      if (msg.type === "ping") { ws.send(JSON.stringify({ type: "pong" })); return; }
      if (msg.type === "connection_ack") {
        state.retry = 0;
        ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: SUB, variables: { a: state.cursor } } }));
        fetchMessages(lastMessageCursor()).catch(function () {}); // anything written while we were away
        return;
      }
      if (msg.type === "next") {
        var p = msg.payload;
        if (p.errors && p.errors.length) return;
        handle(p.data.widgetEvents);
      } else if (msg.type === "error") {
        var code = msg.payload && msg.payload[0] && msg.payload[0].extensions && msg.payload[0].extensions.code;
        if (code === "CURSOR_EXPIRED" || code === "BAD_USER_INPUT") { state.cursor = null; save(); }
        ws.close();
      } else if (msg.type === "complete") {
        ws.close();
      }
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      var delay = Math.min(10000, 500 * Math.pow(2, state.retry++));
      setTimeout(connect, delay);
    };
  }
  function handle(e) {
    if (e.typing) {
      typing.textContent = e.typing.on ? (e.typing.agentName || "An agent") + " is typing…" : "";
    } else {
      if (e.conversation && !state.conversation) { state.conversation = e.conversation.id; }
      if (e.message && e.message.conversationId === state.conversation) {
        if (render(e.message)) typing.textContent = "";
      }
      if (e.type === "conversation.status_changed" && e.conversation && e.conversation.status === "RESOLVED") {
        status.textContent = "This conversation was resolved.";
      }
    }
    state.cursor = e.cursor;
    save();
  }

  // --- start -------------------------------------------------------------------------------------------
  function start() {
    (document.body || document.documentElement).appendChild(host);
    gql("query($w: String!){widgetConfig(websiteToken:$w){name widgetColor welcomeTitle welcomeTagline replyTime openNow outOfOfficeMessage agentsOnline}}", { w: websiteToken })
      .then(function (d) {
        var c = state.config = d.widgetConfig;
        host.style.setProperty("--c", c.widgetColor);
        title.textContent = c.welcomeTitle || c.name;
        tagline.textContent = c.welcomeTagline;
        var replyTime = ({ in_a_few_minutes: "Typically replies in a few minutes",
          in_a_few_hours: "Typically replies in a few hours", in_a_day: "Typically replies in a day" })[c.replyTime] || "";
        var line = !c.openNow && c.outOfOfficeMessage ? c.outOfOfficeMessage : c.agentsOnline ? "We are online" : replyTime;
        // Say it once: a tagline that already speaks of replies gets no reply time underneath.
        if (line === replyTime && /\brepl(y|ies|ied)\b/i.test(c.welcomeTagline || "")) line = "";
        status.textContent = line;
        return gql("mutation($i: WidgetSessionStartInput!){widgetSessionStart(input:$i){token errors{code message}}}",
          { i: { websiteToken: websiteToken, sessionToken: store.token || null } });
      })
      .then(function (d) {
        var p = d.widgetSessionStart;
        if (!p.token) throw new Error(p.errors[0] && p.errors[0].message);
        store.token = p.token;
        save();
        return gql("{widgetConversations{id status}}");
      })
      .then(function (d) {
        var cs = d.widgetConversations;
        var known = cs.filter(function (c) { return c.id === state.conversation; })[0];
        if (!known && cs.length) { state.conversation = cs[0].id; store.lastMessage = null; }
        save();
        return fetchMessages(null);
      })
      .then(connect)
      .catch(function (e) { status.textContent = "Chat is unavailable"; if (window.console) console.warn("parley widget:", e); });
  }

  window.ParleyWidget = {
    open: function () { toggle(true); },
    close: function () { toggle(false); },
    dropConnection: function () { if (state.ws) state.ws.close(); },
    state: state
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
