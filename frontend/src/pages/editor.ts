/** Entry of /images/<id>/ and /review/<item id>/: the image editor. */

import "../styles/base.css";
import "../styles/editor.css";
import { Editor, type EditorContext } from "../editor/editor";
import { pageContext } from "../ui/dom";

const editor = new Editor(pageContext<EditorContext>("page-context"));
editor.start().catch((error) => console.error("editor failed to start", error));
