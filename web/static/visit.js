// Visits recorded without a connection: every visit form submitted is kept
// in localStorage until an answer for it arrives, and pending forms are sent
// when the connection returns and whenever a page of the app opens. Offline,
// the form is only kept; online it also posts as usual, so a connection that
// drops during that post (the phone still believes it is online) loses
// nothing. Each form carries its own key, so a form sent twice is recorded
// once: the copy of a post that went through is answered "already recorded"
// and dropped. A kept form the server refuses for good (not her elder any
// more, an order someone else closed, a bad field) is not dropped without a
// word: it moves to a list the page shows, with what was written, until the
// worker has read it. Without this script the form posts as usual.
(function () {
  var STORE = 'anxin-pending-visits', REFUSED = 'anxin-refused-visits';
  var note = document.getElementById('pending');
  function read(key) {
    try { return JSON.parse(localStorage.getItem(key) || '[]'); } catch (e) { return []; }
  }
  function load() { return read(STORE); }
  function save(list) { localStorage.setItem(STORE, JSON.stringify(list)); show(); }
  // what the worker wrote, to say which record it was and keep her words
  function words(v) {
    var out = [];
    v.data.forEach(function (kv) {
      if (['outcome', 'needs', 'service', 'suggested_care', 'note'].indexOf(kv[0]) >= 0 && kv[1]) out.push(kv[1]);
    });
    return out.join('；');
  }
  // the account signed in on this page ('' on the "sign in again" page). A
  // copy is sent only under the session of the account that filled it in: on
  // a shared phone, another worker's session would record it as her visit,
  // or refuse it (not her elder) and drop it.
  var login = document.documentElement.getAttribute('data-login') || '';
  function mine(v) { return !v.login || v.login === login; }
  function keyOf(v) {
    for (var i = 0; i < v.data.length; i++) if (v.data[i][0] === 'key') return v.data[i][1];
    return '';
  }
  function show() {
    if (!note) return;
    var refused = read(REFUSED).filter(mine);
    var list = load();
    var n = login ? list.filter(mine).length : list.length;
    var others = list.length - n;
    // a page without the session's token is the "sign in again" page: the copy goes once signed in
    var when = document.querySelector('input[name=csrf]') ? '联网后自动提交' : '重新登录后自动提交';
    var text = n ? n + ' 份探访记录保存在手机上，' + when : '';
    if (others) text += (text ? '；' : '') + '另有 ' + others + ' 份是其他账号填写的，该账号在本机登录后自动提交';
    note.textContent = text;
    note.className = 'bad';
    if (login && refused.length) {
      var r = document.createElement('span');
      r.id = 'refused';
      r.textContent = (text ? '。' : '') + '手机上保存的 ' + refused.length + ' 份探访记录没有被接收，没有保存（老人已不归您负责、工单已由他人处理或内容有误），请重新填写：' +
        refused.map(function (v) { return '「' + words(v).slice(0, 60) + '」'; }).join('、') + ' ';
      var ok = document.createElement('button');
      ok.type = 'button';
      ok.id = 'refused-ok';
      ok.textContent = '知道了';
      ok.addEventListener('click', function () {
        localStorage.setItem(REFUSED, JSON.stringify(read(REFUSED).filter(function (v) { return !mine(v); })));
        show();
      });
      r.appendChild(ok);
      note.appendChild(r);
      text += r.textContent;
    }
    note.hidden = !text;
  }
  var sending = false;
  var sent = 0; // kept copies this page sent and saw recorded
  function send() {
    var v = load().filter(mine)[0];
    var csrf = document.querySelector('input[name=csrf]');
    if (sending || !v || !login || !navigator.onLine || !csrf) return;
    sending = true;
    var data = new URLSearchParams(v.data);
    data.set('csrf', csrf.value); // this session's token: the stored one may be from an older sign-in
    fetch(v.action, {method: 'POST', body: data, credentials: 'same-origin', redirect: 'manual'})
      .then(function (r) {
        sending = false;
        if (r.status === 401 || r.status >= 500) return; // sign in again, or retry later
        // recorded (a redirect), or refused for good (4xx: this session's
        // token was sent, so a 403 is "not hers", not a stale form): that
        // copy goes; a kept one refused is shown to the worker, not lost
        var list = load(), i = list.findIndex(function (w) { return mine(w) && keyOf(w) === keyOf(v); });
        if (i >= 0) list.splice(i, 1);
        if (r.status >= 400 && v.kept) {
          var refused = read(REFUSED);
          refused.push({action: v.action, data: v.data, login: v.login, status: r.status});
          localStorage.setItem(REFUSED, JSON.stringify(refused.slice(-20)));
        }
        save(list);
        if (r.type === 'opaqueredirect' || r.ok) {
          document.documentElement.setAttribute('data-sent', String(Date.now()));
          if (v.kept) sent++;
        }
        if (!load().filter(mine).length && sent && note && !read(REFUSED).filter(mine).length) { // say so: this page was drawn before they were sent
          note.textContent = '手机上保存的 ' + sent + ' 份探访记录已提交';
          note.className = 'ok';
          note.hidden = false;
        }
        send();
      }, function () { sending = false; });
  }
  var form = document.getElementById('visit');
  if (form) {
    form.addEventListener('submit', function (ev) {
      var list = load();
      // kept: saved offline, so no answer will say it was recorded (a copy of an
      // online post is only a spare, answered "already recorded")
      list.push({action: form.action, data: Array.from(new FormData(form).entries()), kept: !navigator.onLine, login: login});
      save(list);
      if (navigator.onLine) return; // posts as usual; the copy waits for the next page
      ev.preventDefault();
      form.hidden = true;
    });
  }
  window.addEventListener('online', send);
  if (!document.querySelector('input[name=csrf]')) { // the "sign in again" page: those posts failed
    save(load().map(function (v) { v.kept = true; return v; }));
  }
  show();
  send();
})();
