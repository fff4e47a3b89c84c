from .api import CouponViewSet

routes = [("coupons", CouponViewSet, "coupon")]
