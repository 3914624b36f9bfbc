"""A stand-in for the merchant's shop API (orders, coupons), for the demo and for tests.

The sample flows.yaml calls it at `SHOP_API_URL`; a real shop points that at its own API.
"""

from __future__ import annotations

import itertools
import threading

from flask import Blueprint, Flask, Response, jsonify, request

ORDERS: dict[str, dict[str, str]] = {
    "A1234": {"status": "shipped", "carrier": "UPS", "eta": "on Friday",
              "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"},
    "B2345": {"status": "delayed", "delay_reason": "a storm at our carrier's hub",
              "eta": "next Tuesday"},
    "C3456": {"status": "delivered", "delivered_on": "yesterday at 14:05"},
    "D4567": {"status": "processing"},
}  # fmt: skip


def create_shop_app(prefix: str = "/shop-api") -> Flask:
    app = Flask(__name__)
    api = Blueprint("shop", __name__, url_prefix=prefix)
    counter = itertools.count(1)
    lock = threading.Lock()

    @api.get("/orders/<order_id>")
    def order(order_id: str) -> tuple[Response, int]:
        found = ORDERS.get(order_id.upper())
        if found is None:
            return jsonify(error="order not found"), 404
        return jsonify(id=order_id.upper(), **found), 200

    @api.get("/customers/<path:customer>/orders")
    def customer_orders(customer: str) -> tuple[Response, int]:
        """A shopper's recent orders by their channel address, for the agent's profile panel."""
        pick = sum(customer.encode()) % len(ORDERS)
        recent = list(ORDERS.items())[pick : pick + 2] or list(ORDERS.items())[:1]
        return jsonify(orders=[{"id": k, "status": v["status"]} for k, v in recent]), 200

    @api.post("/coupons")
    def coupon() -> tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        with lock:
            n = next(counter)
        percent = int(body.get("percent", 10)) if str(body.get("percent", "")).isdigit() else 10
        return jsonify(code=f"ACME-SORRY-{n:04d}", percent=percent), 201

    app.register_blueprint(api)
    return app
