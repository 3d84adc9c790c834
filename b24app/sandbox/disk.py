"""The portal's Disk in memory: storages (user, group, common), folders and files with their bytes.
Downloads are served at /_sandbox/disk/file/<id>/download, public links at /_sandbox/disk/public/<token>,
and uploadUrl mode at /_sandbox/disk/upload/<token> (routes in admin.py via `add_routes`)."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, timezone

from .envelope import iso

GROUP_ID, GROUP_NAME = 1, "Руководство"


class DiskStore:
    def __init__(self, tz: timezone | None = None):
        self.tz = tz or UTC
        self.portal_url = ""
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.storages: dict[int, dict] = {}
            self._folders: dict[int, dict] = {}
            self.files_by_id: dict[int, dict] = {}
            self._next_storage = 1
            self._next_object = 1
            self._links: dict[str, int] = {}
            self._uploads: dict[str, dict] = {}
            self.add_storage("Общий диск", "common", "shared_files_s1", code="SHARED_FILES")
            # The workgroup «Руководство» (sonet group 1) and its Disk: where a director keeps the reports.
            self.add_storage(GROUP_NAME, "group", GROUP_ID)

    # --- storages and folders -----------------------------------------------------------------------

    def add_storage(self, name: str, entity_type: str, entity_id: str | int, code: str | None = None) -> dict:
        with self._lock:
            sid = self._next_storage
            self._next_storage += 1
            root = self._new_folder(name, sid, None, 1, is_root=True)
            storage = {"ID": str(sid), "NAME": name, "CODE": code, "MODULE_ID": "disk", "ENTITY_TYPE": entity_type,
                       "ENTITY_ID": str(entity_id), "ROOT_OBJECT_ID": str(root["ID"])}
            self.storages[sid] = storage
            return dict(storage)

    def user_storage(self, user_id: int, name: str = "") -> dict:
        with self._lock:
            for s in self.storages.values():
                if s["ENTITY_TYPE"] == "user" and s["ENTITY_ID"] == str(user_id):
                    return dict(s)
            return self.add_storage(name or f"Пользователь {user_id}", "user", user_id)

    def storage_list(self) -> list[dict]:
        with self._lock:
            return [dict(s) for s in sorted(self.storages.values(), key=lambda s: int(s["ID"]))]

    def common_root(self) -> int:
        with self._lock:
            return int(self.storages[1]["ROOT_OBJECT_ID"])

    def _new_folder(self, name: str, storage_id: int, parent_id: int | None, user_id: int,
                    is_root: bool = False) -> dict:
        fid = self._next_object
        self._next_object += 1
        now = iso(time.time(), self.tz)
        folder = {"ID": fid, "NAME": name, "CODE": None, "STORAGE_ID": str(storage_id), "TYPE": "folder",
                  "REAL_OBJECT_ID": fid, "PARENT_ID": None if parent_id is None else str(parent_id),
                  "DELETED_TYPE": 0, "CREATE_TIME": now, "UPDATE_TIME": now, "DELETE_TIME": None,
                  "CREATED_BY": str(user_id), "UPDATED_BY": str(user_id), "DELETED_BY": None, "_root": is_root}
        self._folders[fid] = folder
        return folder

    def add_folder(self, parent_id: int, name: str, user_id: int = 1) -> dict:
        with self._lock:
            parent = self._folders.get(parent_id)
            if parent is None:
                raise LookupError("folder")
            if any(f["NAME"] == name for f in self._children(parent_id)):
                raise FileExistsError(name)
            return self._folder_rest(self._new_folder(name, int(parent["STORAGE_ID"]), parent_id, user_id))

    def ensure_folder(self, parent_id: int, name: str, user_id: int = 1) -> dict:
        with self._lock:
            for f in self._children(parent_id):
                if f["TYPE"] == "folder" and f["NAME"] == name:
                    return self._folder_rest(f)
            return self.add_folder(parent_id, name, user_id)

    def folder(self, folder_id: int) -> dict | None:
        with self._lock:
            f = self._folders.get(folder_id)
            return self._folder_rest(f) if f else None

    def folders(self) -> list[dict]:
        with self._lock:
            return [self._folder_rest(f) for f in sorted(self._folders.values(), key=lambda f: f["ID"])]

    def _children(self, folder_id: int) -> list[dict]:
        pid = str(folder_id)
        return [o for o in (*self._folders.values(), *self.files_by_id.values()) if o["PARENT_ID"] == pid]

    def children(self, folder_id: int) -> list[dict]:
        with self._lock:
            out = []
            for o in sorted(self._children(folder_id), key=lambda o: (o["TYPE"] != "folder", o["ID"])):
                out.append(self._folder_rest(o) if o["TYPE"] == "folder" else self._file_rest(o))
            return out

    def _path(self, obj: dict) -> str:
        parts = [obj["NAME"]]
        parent = self._folders.get(int(obj["PARENT_ID"])) if obj.get("PARENT_ID") else None
        while parent is not None and not parent["_root"]:
            parts.append(parent["NAME"])
            parent = self._folders.get(int(parent["PARENT_ID"])) if parent.get("PARENT_ID") else None
        return "/".join(reversed(parts))

    def _folder_rest(self, f: dict) -> dict:
        out = {k: v for k, v in f.items() if not k.startswith("_")}
        out["DETAIL_URL"] = f"{self.portal_url}/docs/path/{self._path(f)}"
        return out

    # --- files --------------------------------------------------------------------------------------

    def add_file(self, folder_id: int, name: str, content: bytes, user_id: int = 1, *,
                 unique: bool = False, created: float | None = None) -> dict:
        with self._lock:
            parent = self._folders.get(int(folder_id))
            if parent is None:
                raise LookupError("folder")
            taken = {o["NAME"] for o in self._children(int(folder_id))}
            if name in taken:
                if not unique:
                    raise FileExistsError(name)
                stem, dot, ext = name.rpartition(".")
                stem, ext = (stem, "." + ext) if dot else (name, "")
                n = 1
                while f"{stem} ({n}){ext}" in taken:
                    n += 1
                name = f"{stem} ({n}){ext}"
            fid = self._next_object
            self._next_object += 1
            now = iso(created if created is not None else time.time(), self.tz)
            row = {"ID": fid, "NAME": name, "CODE": None, "STORAGE_ID": parent["STORAGE_ID"], "TYPE": "file",
                   "PARENT_ID": str(folder_id), "DELETED_TYPE": 0, "GLOBAL_CONTENT_VERSION": 1,
                   "FILE_ID": 30000 + fid, "SIZE": str(len(content)), "CREATE_TIME": now, "UPDATE_TIME": now,
                   "DELETE_TIME": None, "CREATED_BY": str(user_id), "UPDATED_BY": str(user_id), "DELETED_BY": None,
                   "_content": bytes(content)}
            self.files_by_id[fid] = row
            return self._file_rest(row)

    def download_url(self, file_id: int) -> str:
        return f"{self.portal_url}/_sandbox/disk/file/{file_id}/download"

    def _file_rest(self, row: dict) -> dict:
        out = {k: v for k, v in row.items() if not k.startswith("_")}
        out["DOWNLOAD_URL"] = self.download_url(row["ID"])
        out["DETAIL_URL"] = f"{self.portal_url}/docs/file/{self._path(row)}"
        return out

    def file(self, file_id: int) -> dict | None:
        with self._lock:
            row = self.files_by_id.get(int(file_id))
            return self._file_rest(row) if row else None

    def files(self, folder_id: int) -> list[dict]:
        with self._lock:
            return [self._file_rest(o) for o in sorted(self._children(int(folder_id)), key=lambda o: o["ID"])
                    if o["TYPE"] == "file"]

    def content(self, file_id: int) -> bytes:
        with self._lock:
            row = self.files_by_id.get(int(file_id))
            if row is None:
                raise LookupError("file")
            return row["_content"]

    def external_link(self, file_id: int) -> str:
        with self._lock:
            if int(file_id) not in self.files_by_id:
                raise LookupError("file")
            token = next((t for t, fid in self._links.items() if fid == int(file_id)), None)
            if token is None:
                token = secrets.token_urlsafe(4)
                self._links[token] = int(file_id)
            return f"{self.portal_url}/_sandbox/disk/public/{token}"

    def by_link(self, token: str) -> int | None:
        with self._lock:
            return self._links.get(token)

    def new_upload(self, folder_id: int, name: str, user_id: int, unique: bool, on_done=None) -> str:
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._uploads[token] = {"folder": folder_id, "name": name, "user": user_id, "unique": unique,
                                    "on_done": on_done}
        return f"{self.portal_url}/_sandbox/disk/upload/{token}"

    def take_upload(self, token: str) -> dict | None:
        with self._lock:
            return self._uploads.pop(token, None)


def add_routes(bp, state) -> None:
    """Download, public link and upload routes on the /_sandbox blueprint."""
    from flask import Response, abort, request

    from .envelope import dumps

    @bp.get("/disk/file/<int:file_id>/download")
    def disk_download(file_id: int):
        row = state.disk.file(file_id)
        if row is None:
            abort(404)
        name = row["NAME"]
        ctype = "audio/wav" if name.lower().endswith(".wav") else "audio/mpeg" if name.lower().endswith(".mp3") \
            else "application/octet-stream"
        return Response(state.disk.content(file_id), content_type=ctype,
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"})

    @bp.get("/disk/public/<token>")
    def disk_public(token: str):
        file_id = state.disk.by_link(token)
        if file_id is None:
            abort(404)
        return disk_download(file_id)

    @bp.post("/disk/upload/<token>")
    def disk_upload(token: str):
        job = state.disk.take_upload(token)
        if job is None:
            return Response(dumps({"error": "ERROR_UPLOAD", "error_description": "Unknown upload"}), 400,
                            content_type="application/json")
        upload = next(iter(request.files.values()), None)
        if upload is None:
            return Response(dumps({"error": "ERROR_ARGUMENT", "error_description": "No file"}), 400,
                            content_type="application/json")
        name = job["name"] or upload.filename or "file"
        try:
            row = state.disk.add_file(job["folder"], name, upload.read(), job["user"], unique=job["unique"])
        except FileExistsError:
            return Response(dumps({"error": "DISK_OBJ_22000", "error_description":
                                   "Объект с таким именем уже существует"}), 400, content_type="application/json")
        if job.get("on_done"):
            job["on_done"](row)
        return Response(dumps({"result": row}), content_type="application/json; charset=utf-8")


def _quote(name: str) -> str:
    from urllib.parse import quote
    return quote(name)
