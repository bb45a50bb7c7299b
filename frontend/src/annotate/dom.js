// The page's elements by id (annotator/templates/annotator/annotate.html).
export const $ = (id) => document.getElementById(id);
