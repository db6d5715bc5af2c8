// The widget demo page: the setup snippet with this server's real address, and a copy button.
(() => {
  "use strict";
  const widgetUrl = new URL("widget.js", document.baseURI).href;
  const snippet = `<script src="${widgetUrl}" data-title="Ask the newsroom" defer></script>`;
  const code = document.getElementById("snippet");
  code.textContent = snippet;

  const toast = document.getElementById("toast");
  let timer = 0;
  const say = (text) => {
    toast.textContent = text;
    toast.classList.add("show");
    clearTimeout(timer);
    timer = setTimeout(() => toast.classList.remove("show"), 2200);
  };

  document.getElementById("copy-snippet").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(snippet);
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents(code);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      if (!document.execCommand("copy")) {
        say("Press Ctrl+C to copy the selected snippet");
        return;
      }
    }
    say("Snippet copied");
  });

  document.getElementById("open-chat").addEventListener("click", () => {
    window.dispatchEvent(new Event("assistant-widget:open"));
  });
})();
