// Render the maths that pymdownx.arithmatex (generic mode) leaves in the page, with the KaTeX
// copy served by the site itself (docs/vendor/katex). Material's `document$` fires on every
// page load, including instant navigation.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
  });
});
