"""Reader of AVA label maps (stdlib only).

Both label-map dialects are accepted:

* the 80-class training list::

      label {
        name: "bend/bow (at the waist)"
        label_id: 1
        label_type: PERSON_MOVEMENT
      }

* the 60-class ActivityNet evaluation list::

      item {
        name: "bend/bow (at the waist)"
        id: 1
      }
"""
import re
from typing import Dict, List, Sequence, Set, Tuple

from .atomic import atomic_write

__all__ = ["read_labelmap", "read_label_types", "write_labelmap"]

_BLOCK_START = re.compile(r"^\s*(label|item)\s*\{\s*$")
_FIELD = re.compile(r'^\s*(\w+)\s*:\s*(.+?)\s*$')


def read_labelmap(path: str) -> Tuple[List[Dict], Set[int]]:
    """Read an AVA label map in either pbtxt dialect.

    Args:
        path: the ``.pbtxt`` file.

    Returns:
        categories: ``[{"id": int, "name": str}, ...]`` in file order, with
            ``"label_type"`` (e.g. ``PERSON_MOVEMENT``) where the entry has one.
        class_ids: the set of ids, i.e. the evaluation whitelist.

    Raises:
        ValueError: naming the file and line of a malformed entry, a duplicate
            id, or a file with no entry at all.
    """
    categories: List[Dict] = []
    current = None  # (start line, fields) of the open block
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if current is None:
                if not _BLOCK_START.match(line):
                    raise ValueError(f"{path}:{lineno}: expected 'label {{' or 'item {{', got {stripped!r}")
                current = (lineno, {})
                continue
            if stripped == "}":
                start, fields = current
                categories.append(_category_from_fields(path, start, fields))
                current = None
                continue
            match = _FIELD.match(line)
            if match is None:
                raise ValueError(f"{path}:{lineno}: cannot parse {stripped!r}")
            current[1][match.group(1)] = (lineno, match.group(2))
    if current is not None:
        raise ValueError(f"{path}:{current[0]}: block is never closed with '}}'")
    if not categories:
        raise ValueError(f"{path}: no 'label' or 'item' entry found")
    seen: Dict[int, str] = {}
    for cat in categories:
        if cat["id"] in seen:
            raise ValueError(f"{path}: class id {cat['id']} appears twice ({seen[cat['id']]!r}, {cat['name']!r})")
        seen[cat["id"]] = cat["name"]
    return categories, set(seen)


def read_label_types(path: str) -> Dict[str, str]:
    """``{class name: label_type}`` of the entries of ``path`` that have a ``label_type``
    (AVA's 80-class lists do, the 60-class evaluation lists do not)."""
    return {cat["name"]: cat["label_type"] for cat in read_labelmap(path)[0] if "label_type" in cat}


def write_labelmap(path: str, categories: Sequence[Dict]) -> None:
    """Write ``categories`` (``[{"id", "name"[, "label_type"]}]``, as :func:`read_labelmap` returns
    them) as a training-dialect label map, atomically."""
    with atomic_write(path) as f:
        for cat in categories:
            name = str(cat["name"])  # written as read_labelmap reads it: between quotes, unescaped
            label_type = f"\n  label_type: {cat['label_type']}" if "label_type" in cat else ""
            f.write(f'label {{\n  name: "{name}"\n  label_id: {int(cat["id"])}{label_type}\n}}\n')


def _category_from_fields(path: str, start: int, fields: Dict) -> Dict:
    if "name" not in fields:
        raise ValueError(f"{path}:{start}: entry has no 'name'")
    id_key = "label_id" if "label_id" in fields else "id"
    if id_key not in fields:
        raise ValueError(f"{path}:{start}: entry has neither 'label_id' nor 'id'")
    id_line, id_text = fields[id_key]
    try:
        class_id = int(id_text)
    except ValueError:
        raise ValueError(f"{path}:{id_line}: {id_key} {id_text!r} is not an integer") from None
    name = fields["name"][1]
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    category = {"id": class_id, "name": name}
    if "label_type" in fields:
        category["label_type"] = fields["label_type"][1]
    return category
