// The upload page's script (served by the app as /static/page.js; the page's
// Content-Security-Policy runs no inline script). Disables the button while the server
// works and refuses files over the limit before sending them (the server enforces the
// limit anyway). The limit and its message come from the form's data attributes.
document.addEventListener('DOMContentLoaded', function () {
  var form = document.getElementById('upload');
  if (!form) { return; }
  form.addEventListener('submit', function (ev) {
    var limit = Number(form.dataset.limit), total = 0;
    var inputs = form.querySelectorAll('input[type=file]');
    for (var i = 0; i < inputs.length; i++) {
      for (var j = 0; j < inputs[i].files.length; j++) { total += inputs[i].files[j].size; }
    }
    var msg = document.getElementById('busy');
    if (limit > 0 && total > limit) {
      ev.preventDefault();
      msg.textContent = form.dataset.limitMessage;
      return;
    }
    document.getElementById('submit').disabled = true;
    msg.textContent = 'Predicting\u2026';
  });
});
